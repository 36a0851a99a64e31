"""Alpha Post's XSDs against its fixtures: the schemas must accept every well-formed fixture
(bad items are the canonical rules' business, not the schema's) and refuse the one that is
meant to fail the whole message, at the path its expected output names."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from gateway.document import DocumentRefused, parse_xml
from xsd import schema_path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alpha"
VERSIONS = ("8", "11")
SCHEMA_INVALID = "v11-schema-invalid"
NOT_XML = "unparseable"
VALID_CASES = sorted(
    p.stem for p in FIXTURES.glob("*.xml") if p.stem not in {SCHEMA_INVALID, NOT_XML}
)


def _xsd(version: str) -> Path:
    return schema_path(f"alpha-itmatt-{version}.xsd")


@cache
def _lxml_schema(version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(_xsd(version))))


def _load(case: str) -> tuple[etree._Element, str]:
    """The fixture's root and its version, read from the namespace as the adapter does."""
    root = parse_xml((FIXTURES / f"{case}.xml").read_bytes())
    namespace = etree.QName(root).namespace or ""
    prefix = "urn:alphapost:itmatt:"
    assert namespace.startswith(prefix), f"{case}: unexpected namespace {namespace!r}"
    return root, namespace.removeprefix(prefix)


@pytest.mark.parametrize("version", VERSIONS)
def test_schema_compiles_in_lxml_and_xmlschema(version: str) -> None:
    assert _lxml_schema(version) is not None
    assert xmlschema.XMLSchema(str(_xsd(version))).validity == "valid"


def test_every_fixture_has_an_expected_output() -> None:
    cases = sorted(p.stem for p in FIXTURES.glob("*.xml"))
    expected = sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.json"))
    assert cases == expected
    assert {SCHEMA_INVALID, NOT_XML, "v8-batch", "v11-batch-3"} <= set(cases)


@pytest.mark.parametrize("case", VALID_CASES)
def test_fixture_validates(case: str) -> None:
    root, version = _load(case)
    schema = _lxml_schema(version)
    assert schema.validate(root), f"{case}: {schema.error_log}"


def test_schema_invalid_fixture_fails_at_the_expected_paths() -> None:
    root, version = _load(SCHEMA_INVALID)
    assert not _lxml_schema(version).validate(root)
    expected = json.loads((FIXTURES / f"{SCHEMA_INVALID}.expected.json").read_text("utf-8"))
    errors = xmlschema.XMLSchema(str(_xsd(version))).iter_errors(etree.tostring(root))
    assert expected["error"]["code"] == "schema_invalid"
    assert [e.path for e in errors] == [d["path"] for d in expected["error"]["details"]]


def test_unparseable_fixture_is_refused_where_it_ends() -> None:
    expected = json.loads((FIXTURES / f"{NOT_XML}.expected.json").read_text("utf-8"))
    with pytest.raises(DocumentRefused) as refused:
        parse_xml((FIXTURES / f"{NOT_XML}.xml").read_bytes())
    assert refused.value.status == expected["http_status"]
    assert refused.value.code == expected["error"]["code"]
    assert refused.value.details == expected["error"]["details"]


@pytest.mark.parametrize(
    ("case", "element", "attribute", "value"),
    [
        ("v11-batch-3", "MailClass", None, "X"),
        ("v11-batch-3", "Category", None, "30"),
        ("v8-batch", "Category", None, "99"),
        ("v11-batch-3", "PostingDate", None, "2026-11-28T09:15:00"),
        ("v11-batch-3", "GrossWeight", "unit", "lb"),
        ("v11-grams", "NetWeight", "unit", "KG"),
        ("v11-batch-3", "TotalValue", "currency", "gbp"),
        ("v8-batch", "Value", "currency", "GB"),
    ],
)
def test_schema_refuses(case: str, element: str, attribute: str | None, value: str) -> None:
    """Closed code lists, units, currency shape and the posting time's offset."""
    root, version = _load(case)
    target = root.find(f".//{{*}}{element}")
    if attribute is None:
        target.text = value
    else:
        target.set(attribute, value)
    assert not _lxml_schema(version).validate(root)
