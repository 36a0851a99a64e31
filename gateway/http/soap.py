"""SOAP Faults for SOAP senders (epsilon): a whole-message error goes back as a Fault
carrying the same code and message as the JSON error, in the sender's SOAP version."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from lxml import etree

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
DETAIL_NS = "urn:aed-gateway:error:1"
_SNIFF = 2048


def soap_version(content_type: str, body: bytes) -> str | None:
    """The SOAP envelope namespace the request used, or None for a plain request."""
    if content_type.split(";")[0].strip().lower() == "application/soap+xml":
        return SOAP12
    head = body[:_SNIFF]
    if SOAP12.encode() in head:
        return SOAP12
    if SOAP11.encode() in head:
        return SOAP11
    return None


def fault_response(version: str, status: int, body: dict[str, Any]) -> web.Response:
    """A Fault for an error body ``{"error": {"code", "message", "details"}, ...}``."""
    error = body["error"]
    env = f"{{{version}}}"
    envelope = etree.Element(env + "Envelope", nsmap={"soap": version, "aed": DETAIL_NS})
    fault = etree.SubElement(etree.SubElement(envelope, env + "Body"), env + "Fault")
    side = "Client" if version == SOAP11 else "Sender"
    if status >= 500:
        side = "Server" if version == SOAP11 else "Receiver"
    if version == SOAP11:
        etree.SubElement(fault, "faultcode").text = f"soap:{side}"
        etree.SubElement(fault, "faultstring").text = error["message"]
        detail = etree.SubElement(fault, "detail")
    else:
        code = etree.SubElement(fault, env + "Code")
        etree.SubElement(code, env + "Value").text = f"soap:{side}"
        reason = etree.SubElement(fault, env + "Reason")
        text = etree.SubElement(reason, env + "Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = error["message"]
        detail = etree.SubElement(fault, env + "Detail")
    aed = f"{{{DETAIL_NS}}}"
    holder = etree.SubElement(detail, aed + "error")
    etree.SubElement(holder, aed + "code").text = error["code"]
    etree.SubElement(holder, aed + "message").text = error["message"]
    if body.get("message_id"):
        etree.SubElement(holder, aed + "message_id").text = body["message_id"]
    details = error.get("details")
    for item in details if isinstance(details, list) else []:
        problem = etree.SubElement(holder, aed + "problem")
        problem.set("path", str(item.get("path", "")))
        problem.text = str(item.get("message", ""))
    if isinstance(details, dict) and "line" in details:
        holder.set("line", str(details["line"]))
        holder.set("column", str(details.get("column", 0)))
    media = "text/xml" if version == SOAP11 else "application/soap+xml"
    return web.Response(
        body=etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
        status=status,
        content_type=media,
        charset="utf-8",
    )
