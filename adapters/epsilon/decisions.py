"""Epsilon Posta speaks SOAP: its customs decisions go back as a SOAP 1.1 document in
its own namespace (version 2), one ``Decision`` per decision, in the order taken; the
``CustomsDecisions`` element is described by ``xsd/epsilon-decisions-2.xsd``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:epsilon:aed:2"

_FIELDS = (
    ("Barcode", "item_id"),
    ("Revision", "revision"),
    ("Code", "code"),
    ("Reference", "reference"),
    ("Reason", "reason"),
    ("DecidedAt", "decided_at"),
    ("DecisionId", "decision_id"),
)


@dataclass(frozen=True, slots=True)
class SoapDecisions:
    format: str = "epsilon-soap"
    media_type: str = "text/xml"

    def render(self, decisions: Sequence[dict[str, Any]]) -> bytes:
        envelope = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soap": SOAP11, "e": NS})
        body = etree.SubElement(envelope, f"{{{SOAP11}}}Body")
        notice = etree.SubElement(body, f"{{{NS}}}CustomsDecisions")
        for decision in decisions:
            element = etree.SubElement(notice, f"{{{NS}}}Decision")
            element.set("superseded", "true" if decision["superseded"] else "false")
            for name, key in _FIELDS:
                if decision.get(key) is not None:
                    etree.SubElement(element, f"{{{NS}}}{name}").text = str(decision[key])
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


RENDERERS = [SoapDecisions()]
