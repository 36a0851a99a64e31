"""Gamma Post's JSON Schema against its fixtures.

The schema must refuse a malformed batch as a whole, yet let through everything the canonical
rules judge per item (bad S10, unknown country, missing catNote), so that one bad parcel never
sinks a batch. Documents are parsed as the gateway parses them (fractions become Decimal).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway.document import loads_json
from xsd import schema_path

SCHEMA = "gamma-batch.schema.json"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gamma"
INVALID = "schema-invalid"
VALID = sorted(
    p.stem for p in FIXTURES.glob("*.json") if ".expected" not in p.name and p.stem != INVALID
)
_DELETE = object()


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path(SCHEMA).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _document(case: str) -> Any:
    return loads_json((FIXTURES / f"{case}.json").read_bytes())


def _paths(validator: jsonschema.protocols.Validator, doc: Any) -> list[str]:
    """JSON Pointers of every violation, the form a 422 receipt carries."""
    return sorted(
        "".join(f"/{part}" for part in error.absolute_path) for error in validator.iter_errors(doc)
    )


def test_schema_is_2020_12() -> None:
    schema = json.loads(schema_path(SCHEMA).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_fixture_has_an_expected_output() -> None:
    assert VALID, "no gamma fixtures found"
    for case in [*VALID, INVALID]:
        assert (FIXTURES / f"{case}.expected.json").is_file(), case


@pytest.mark.parametrize("case", VALID)
def test_fixture_is_schema_valid(validator: jsonschema.protocols.Validator, case: str) -> None:
    assert _paths(validator, _document(case)) == []


def test_schema_invalid_fixture_fails_at_the_expected_paths(
    validator: jsonschema.protocols.Validator,
) -> None:
    expected = json.loads((FIXTURES / f"{INVALID}.expected.json").read_text(encoding="utf-8"))
    assert expected["http_status"] == 422
    assert expected["error"]["code"] == "schema_invalid"
    wanted = sorted(detail["path"] for detail in expected["error"]["details"])
    assert _paths(validator, _document(INVALID)) == wanted


def _set(doc: dict[str, Any], pointer: str, value: Any) -> None:
    """Replace (or, given ``_DELETE``, remove) the value at a JSON Pointer."""
    *parents, last = pointer.strip("/").split("/")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


MALFORMED = [
    ("/parcels/0/weightG", "850"),  # grams sent as a string
    ("/parcels/0/declaredValue/amount", loads_json("120.00")),  # major units, not minor
    ("/parcels/0/goods/0/unitValue", loads_json("45.5")),
    ("/parcels/0/goods/0/qty", "2"),
    ("/parcels/0/serviceType", "COURIER"),
    ("/parcels/0/catCode", 6),
    ("/parcels/0/etd", "2026-11-29 13:20"),  # no T, no offset
    ("/sentAt", "2026-11-28T17:02:11"),  # local time without its offset
    ("/parcels/0/shipper/fax", "123"),  # unknown key: noticed, not dropped
    ("/parcels/0/goods", {"nameEn": "Silk scarf"}),
    ("/parcels/0/trackingNo", _DELETE),
    ("/batchNo", _DELETE),
]


@pytest.mark.parametrize(("pointer", "value"), MALFORMED)
def test_malformed_batch_is_refused(
    validator: jsonschema.protocols.Validator, pointer: str, value: Any
) -> None:
    doc = copy.deepcopy(_document("batch-3"))
    _set(doc, pointer, value)
    assert _paths(validator, doc), f"{pointer} = {value!r} should break the schema"


PER_ITEM = [
    ("/parcels/0/trackingNo", "EA281100113CN"),  # bad check digit: s10_check_digit
    ("/parcels/0/trackingNo", "GP-000123"),  # not S10 at all: s10_invalid
    ("/parcels/0/consignee/countryCode", "XX"),  # country_unknown
    ("/parcels/0/declaredValue/currency", "RMB"),  # currency_unknown
    ("/parcels/0/goods/0/hsCode", "61"),  # hs_code_invalid
    ("/parcels/0/goods/0/hsCode", _DELETE),  # required only for some categories
    ("/parcels/0/catCode", 9),  # catNote missing: required_missing
    ("/parcels/0/declaredValue", _DELETE),  # fine for documents, required_missing otherwise
    ("/parcels/0/shipper/name", _DELETE),  # required_missing on sender.name
    ("/parcels/0/goods", []),  # required_missing on contents
    ("/parcels/0/weightG", -5),  # value_invalid from the rules
]


@pytest.mark.parametrize(("pointer", "value"), PER_ITEM)
def test_per_item_problems_are_left_to_the_rules(
    validator: jsonschema.protocols.Validator, pointer: str, value: Any
) -> None:
    doc = copy.deepcopy(_document("batch-3"))
    _set(doc, pointer, value)
    assert _paths(validator, doc) == []
