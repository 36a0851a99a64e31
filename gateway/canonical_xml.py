"""Canonical records as XML (``xsd/canonical.xsd``), for targeting systems that want XML.

Renders the JSON wire form of :func:`gateway.canonical.record_to_dict` one to one (same
names; lists get a wrapper; null and empty fields are left out), so that the two forms
cannot drift. Built with lxml directly: the feed renders up to 1,000 records a page, and
nothing here validates (the tests check the output against the XSD).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from lxml import etree

NAMESPACE = "urn:aed-gateway:canonical:1"

LIST_ENTRIES = {
    "contents": "line",
    "documents": "document",
    "tax_ids": "tax_id",
    "lines": "line",
    "quality_flags": "flag",
}
"""The element of each entry inside a list's wrapper (``contents/line``)."""

_NSMAP = {None: NAMESPACE}
# Characters XML 1.0 cannot carry; lxml refuses them. A stored record must still render.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def record_element(record: Mapping[str, Any]) -> etree._Element:
    """One record as a ``Record`` element."""
    element = etree.Element(_tag("Record"), nsmap=_NSMAP)
    _fill(element, record)
    return element


def records_document(records: list[dict[str, Any]], next_cursor: str | None) -> bytes:
    """A feed page as a ``Records`` document (UTF-8, with the declaration)."""
    root = etree.Element(_tag("Records"), nsmap=_NSMAP)
    if next_cursor is not None:
        root.set("next", next_cursor)
    for record in records:
        _fill(etree.SubElement(root, _tag("Record")), record)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@cache
def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _fill(parent: etree._Element, fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        if value is None or value == []:
            continue
        child = etree.SubElement(parent, _tag(name))
        if isinstance(value, list):
            entry_tag = _tag(LIST_ENTRIES[name])
            for entry in value:
                _put(etree.SubElement(child, entry_tag), entry)
        else:
            _put(child, value)


def _put(element: etree._Element, value: Any) -> None:
    if isinstance(value, Mapping):
        _fill(element, value)
    else:
        _set_text(element, value)


def _set_text(element: etree._Element, value: Any) -> None:
    text = value if isinstance(value, str) else str(value)
    try:
        element.text = text
    except ValueError:  # a control character sent by an operator: replace, do not fail
        element.text = _NOT_XML.sub("\ufffd", text)
