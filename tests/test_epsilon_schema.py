"""Epsilon Posta's XSDs against its fixtures: every SOAP message that is meant to reach the
adapter validates (bad items are the canonical rules' business, not the schema's), and the one
meant to fail the whole message fails at the paths its expected output names."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from lxml import etree

from gateway.document import media_kind, parse_xml
from xsd import schema_path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "epsilon"
VERSIONS = ("1", "2")
PAYLOAD_NAMESPACE = "urn:epsilon:aed:"
SOAP_MEDIA_TYPES = {
    "http://schemas.xmlsoap.org/soap/envelope/": "text/xml",
    "http://www.w3.org/2003/05/soap-envelope": "application/soap+xml",
}
SCHEMA_INVALID = "v2-schema-invalid"
CASES = sorted(p.stem for p in FIXTURES.glob("*.xml"))
VALID_CASES = [c for c in CASES if c != SCHEMA_INVALID]


def _xsd(version: str) -> str:
    return str(schema_path(f"epsilon-aed-{version}.xsd"))


@cache
def _lxml_schema(version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(_xsd(version)))


@cache
def _xmlschema(version: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(_xsd(version))


def _load(case: str) -> tuple[etree._Element, str, str]:
    """The fixture's root, its SOAP namespace and its version (from the payload's namespace,
    as the adapter detects it)."""
    root = parse_xml((FIXTURES / f"{case}.xml").read_bytes())
    soap = etree.QName(root).namespace or ""
    assert etree.QName(root).localname == "Envelope" and soap in SOAP_MEDIA_TYPES, case
    payload = root.find(f"{{{soap}}}Body/*")
    assert payload is not None, f"{case}: empty Body"
    namespace = etree.QName(payload).namespace or ""
    assert namespace.startswith(PAYLOAD_NAMESPACE), f"{case}: namespace {namespace!r}"
    return root, soap, namespace.removeprefix(PAYLOAD_NAMESPACE)


def _expected(case: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{case}.expected.json").read_text(encoding="utf-8"))


def _plain_path(path: str) -> str:
    """xmlschema's error path without namespaces or prefixes, as the gateway reports it."""
    return re.sub(r"(?<=/)[\w.-]+:", "", re.sub(r"\{[^}]*\}", "", path))


@pytest.mark.parametrize("version", VERSIONS)
def test_schema_compiles_in_lxml_and_xmlschema(version: str) -> None:
    assert _lxml_schema(version) is not None
    assert _xmlschema(version).validity == "valid"


def test_every_fixture_has_an_expected_output() -> None:
    expected = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.json"))
    assert expected == CASES
    assert {SCHEMA_INVALID, "v1-batch", "v2-batch", "v1-one-bad-item"} <= set(CASES)


@pytest.mark.parametrize("case", VALID_CASES)
def test_fixture_validates(case: str) -> None:
    root, _, version = _load(case)
    schema = _lxml_schema(version)
    assert schema.validate(root), f"{case}: {schema.error_log}"
    assert _xmlschema(version).is_valid(root)


@pytest.mark.parametrize("case", CASES)
def test_request_matches_envelope_and_version(case: str) -> None:
    """SOAP 1.1 goes as text/xml, SOAP 1.2 as application/soap+xml; the expected output names
    the format version the payload's namespace selects."""
    _, soap, version = _load(case)
    expected = _expected(case)
    media, _, charset = media_kind(expected["request"]["content_type"])
    assert (media, charset) == (SOAP_MEDIA_TYPES[soap], "utf-8")
    if "translation" in expected:
        assert expected["translation"]["source_format"] == f"epsilon-soap/{version}"


def test_schema_invalid_fixture_fails_at_expected_paths() -> None:
    root, _, version = _load(SCHEMA_INVALID)
    assert not _lxml_schema(version).validate(root)
    found = sorted(_plain_path(e.path or "") for e in _xmlschema(version).iter_errors(root))
    error = _expected(SCHEMA_INVALID)["error"]
    assert error["code"] == "schema_invalid"
    assert found == sorted(d["path"] for d in error["details"])


def test_payload_of_the_other_version_is_refused() -> None:
    """The Body's payload is validated strictly: a version 1 message is not a valid
    version 2 one (no function/revision), nor the reverse."""
    v1, _, _ = _load("v1-batch")
    v2, _, _ = _load("v2-batch")
    assert not _lxml_schema("2").validate(v1)
    assert not _lxml_schema("1").validate(v2)
