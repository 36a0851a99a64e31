"""Epsilon sends SOAP: whole-message errors come back as SOAP Faults in its SOAP version,
with the same code and message as the JSON error; receipts stay JSON."""

from __future__ import annotations

from lxml import etree

from gateway.http.soap import DETAIL_NS, SOAP11, SOAP12
from tests.conftest import FIXTURES, bearer

SOAP12_TYPE = "application/soap+xml; charset=utf-8"


def fault_code(xml: bytes, envelope: str) -> tuple[str, str]:
    root = etree.fromstring(xml)
    assert root.tag == f"{{{envelope}}}Envelope"
    fault = root.find(f"{{{envelope}}}Body/{{{envelope}}}Fault")
    assert fault is not None
    return (
        fault.findtext(f".//{{{DETAIL_NS}}}code"),
        fault.findtext(f".//{{{DETAIL_NS}}}message"),
    )


async def test_schema_invalid_soap12_is_a_soap12_fault(client, add_operator) -> None:
    key = await add_operator("epsilon")
    body = (FIXTURES / "epsilon" / "v2-schema-invalid.xml").read_bytes()
    response = await client.post(
        "/v1/messages", data=body, headers=bearer(key, **{"Content-Type": SOAP12_TYPE})
    )
    assert response.status == 422
    assert response.content_type == "application/soap+xml"
    code, message = fault_code(await response.read(), SOAP12)
    assert code == "schema_invalid" and message
    problems = etree.fromstring(await response.read()).findall(f".//{{{DETAIL_NS}}}problem")
    assert problems and all(p.get("path").startswith("/Envelope/Body") for p in problems)


async def test_unparseable_soap11_is_a_soap11_fault(client, add_operator) -> None:
    key = await add_operator("epsilon")
    body = (FIXTURES / "epsilon" / "v1-batch.xml").read_bytes()[:400]
    response = await client.post(
        "/v1/messages", data=body, headers=bearer(key, **{"Content-Type": "text/xml"})
    )
    assert response.status == 400
    assert response.content_type == "text/xml"
    assert fault_code(await response.read(), SOAP11)[0] == "unparseable"


async def test_bad_key_for_a_soap_sender_is_a_fault(client) -> None:
    response = await client.post(
        "/v1/messages",
        data=b"<x/>",
        headers={"Authorization": "Bearer nope", "Content-Type": SOAP12_TYPE},
    )
    assert response.status == 401
    assert fault_code(await response.read(), SOAP12)[0] == "unauthorized"


async def test_soap_receipt_stays_json(client, add_operator) -> None:
    key = await add_operator("epsilon")
    body = (FIXTURES / "epsilon" / "v1-batch.xml").read_bytes()
    response = await client.post(
        "/v1/messages", data=body, headers=bearer(key, **{"Content-Type": "text/xml"})
    )
    assert response.status == 202
    assert (await response.json())["status"] == "accepted"
