"""Beta Correo's XSD against its fixtures: the schema must accept every fixture meant to be
translated (bad items are the canonical rules' business, not the schema's) and refuse the one
meant to fail the whole message, at the paths its expected output names. The fixtures are
ISO-8859-1, so each is parsed the way it is sent (its expected ``request.content_type``)."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from lxml import etree

from gateway.document import DocumentRefused, parse
from xsd import schema_path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "beta"
XSD = schema_path("beta-items.xsd")
SCHEMA_INVALID = "schema-invalid"
VALID_CASES = sorted(p.stem for p in FIXTURES.glob("*.xml") if p.stem != SCHEMA_INVALID)


@cache
def _lxml_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def _expected(case: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{case}.expected.json").read_text("utf-8"))


def _root(case: str) -> etree._Element:
    request = _expected(case)["request"]
    raw = (FIXTURES / f"{case}.xml").read_bytes()
    return parse(raw, request["content_type"], request["headers"]).root


def test_schema_compiles_in_lxml_and_xmlschema() -> None:
    assert _lxml_schema() is not None
    assert xmlschema.XMLSchema(str(XSD)).validity == "valid"


def test_every_fixture_has_an_expected_output() -> None:
    cases = sorted(p.stem for p in FIXTURES.glob("*.xml"))
    expected = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.json"))
    assert cases == expected
    assert {SCHEMA_INVALID, "batch", "one-bad-item"} <= set(cases)


@pytest.mark.parametrize("case", VALID_CASES)
def test_fixture_validates(case: str) -> None:
    schema = _lxml_schema()
    assert schema.validate(_root(case)), f"{case}: {schema.error_log}"


def test_schema_invalid_fixture_fails_at_the_expected_paths() -> None:
    root = _root(SCHEMA_INVALID)
    expected = _expected(SCHEMA_INVALID)
    paths = [d["path"] for d in expected["error"]["details"]]
    schema = _lxml_schema()
    assert expected["error"]["code"] == "schema_invalid"
    assert not schema.validate(root)
    assert [e.path for e in schema.error_log] == paths
    assert [e.path for e in xmlschema.XMLSchema(str(XSD)).iter_errors(root)] == paths


def test_http_charset_fixture_needs_its_charset() -> None:
    """Without the HTTP charset its Latin-1 bytes are not UTF-8: the fixture tests the quirk."""
    raw = (FIXTURES / "latin1-http-charset.xml").read_bytes()
    with pytest.raises(DocumentRefused):
        parse(raw, "application/xml")
    names = _root("latin1-http-charset").iter("Name")
    assert [n.text for n in names] == ["François Lefèvre", "José Muñoz"]


def test_sha256_fixture_reference_is_the_body_digest() -> None:
    """Sent without X-Message-Ref, so its reference is the SHA-256 of the exact bytes."""
    expected = _expected("message-ref-sha256")
    raw = (FIXTURES / "message-ref-sha256.xml").read_bytes()
    assert "X-Message-Ref" not in expected["request"]["headers"]
    assert expected["translation"]["message_ref"] == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("MailClass", "P"),
        ("Gift", "1"),
        ("TotalWeight", "0,2"),
        ("NumberOfPieces", "0"),
        ("Value", "24 EUR"),
        ("ItemId", ""),
    ],
)
def test_schema_refuses(element: str, value: str) -> None:
    """Closed code lists and number types fail the message; an empty id is no item."""
    root = _root("batch")
    root.find(f".//{element}").text = value
    assert not _lxml_schema().validate(root)


@pytest.mark.parametrize("element", ["ItemId", "Gift", "OriginCountry", "ContentPiece"])
def test_schema_requires(element: str) -> None:
    item = _root("batch").find("Item")
    for target in item.findall(element):
        item.remove(target)
    assert not _lxml_schema().validate(item.getparent())


def test_schema_leaves_per_item_rules_to_the_gateway() -> None:
    """A bad check digit, unknown codes and a malformed HS code are item errors, not 422s."""
    root = _root("batch")
    item = root.find("Item")
    item.find("ItemId").text = "CP261101018ES"
    item.find("OriginCountry").text = "Spain"
    item.find("TransportCurrency").text = "EURO"
    item.find("ContentPiece/HSCode").text = "61-09"
    item.find("ReceiverAddress/Country").text = ""
    schema = _lxml_schema()
    assert schema.validate(root), schema.error_log
