"""Delta Correios' line schema against its fixtures.

NDJSON is validated a line at a time, so a malformed line sinks the file (422) while a value
the adapter or the canonical rules judge (a bad S10, "sedex", "1.250", a 9-digit tax id) must
pass the schema and reject only its item. Lines are parsed as the gateway parses them
(fractions become Decimal), and paths take the receipt's form ``line N /pointer``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway.document import Document, Kind, iter_ndjson, loads_json
from xsd import schema_path

SCHEMA = "delta-ndjson.schema.json"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "delta"
INVALID = "schema_invalid"
COUNT_MISMATCH = ("item_count_short", "item_count_over")
CASES = sorted(p.stem for p in FIXTURES.glob("*.ndjson"))
VALID = [case for case in CASES if case != INVALID]
_DELETE = object()


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path(SCHEMA).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _lines(case: str) -> list[tuple[int, Any]]:
    raw = (FIXTURES / f"{case}.ndjson").read_bytes()
    return list(iter_ndjson(Document(kind=Kind.NDJSON, raw=raw, media_type="application/x-ndjson")))


def _expected(case: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{case}.expected.json").read_text(encoding="utf-8"))


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _problems(validator: jsonschema.protocols.Validator, line: int, value: Any) -> list[str]:
    """Every violation of one line as ``line N /pointer`` (``line N`` for the line itself)."""
    return sorted(
        f"line {line} {_pointer(e.absolute_path)}".rstrip() for e in validator.iter_errors(value)
    )


def _file_problems(validator: jsonschema.protocols.Validator, case: str) -> list[str]:
    return sorted(p for n, value in _lines(case) for p in _problems(validator, n, value))


def test_schema_is_2020_12() -> None:
    schema = json.loads(schema_path(SCHEMA).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"header", "item"} <= schema["$defs"].keys()


def test_every_fixture_has_an_expected_output_sent_as_ndjson() -> None:
    assert INVALID in CASES and len(VALID) > 1
    for case in CASES:
        assert _expected(case)["request"]["content_type"] == "application/x-ndjson", case


@pytest.mark.parametrize("case", VALID)
def test_fixture_is_schema_valid(validator: jsonschema.protocols.Validator, case: str) -> None:
    assert _file_problems(validator, case) == []


def test_schema_invalid_fixture_fails_at_the_expected_paths(
    validator: jsonschema.protocols.Validator,
) -> None:
    expected = _expected(INVALID)
    assert expected["http_status"] == 422
    assert expected["error"]["code"] == "schema_invalid"
    wanted = sorted(detail["path"] for detail in expected["error"]["details"])
    assert _file_problems(validator, INVALID) == wanted


@pytest.mark.parametrize("case", CASES)
def test_header_count_matches_unless_the_case_is_about_it(case: str) -> None:
    (first, header), *items = _lines(case)
    assert first == 1 and header["type"] == "header"
    assert all(value["type"] == "item" for _, value in items)
    matches = header["item_count"] == len(items)
    assert matches is (case not in COUNT_MISMATCH)
    if not matches:
        assert _expected(case)["error"] == {
            "code": "item_count_mismatch",
            "details": [{"path": "line 1 /item_count"}],
        }


def _item() -> dict[str, Any]:
    return copy.deepcopy(_lines("good_batch")[1][1])


def _header() -> dict[str, Any]:
    return copy.deepcopy(_lines("good_batch")[0][1])


def _set(doc: dict[str, Any], pointer: str, value: Any) -> dict[str, Any]:
    """The document with the value at a JSON Pointer replaced (or removed, for _DELETE)."""
    *parents, last = pointer.strip("/").split("/")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


MALFORMED = [
    ("/gross_weight_kg", loads_json("1.25")),  # a JSON number, not a comma-decimal string
    ("/lines/0/value", loads_json("89.70")),
    ("/lines/0/quantity", "3"),
    ("/lines", {"description": "Camiseta"}),
    ("/sender/address_lines", "Rua das Flores 123"),
    ("/sender/tax_id", 11144477735),
    ("/recipient/fax", "123"),  # unknown key: noticed, not dropped
    ("/itemId", "CP610010012BR"),
    ("/item_id", _DELETE),
    ("/type", "parcel"),
]


@pytest.mark.parametrize(("pointer", "value"), MALFORMED)
def test_malformed_item_line_is_refused(
    validator: jsonschema.protocols.Validator, pointer: str, value: Any
) -> None:
    assert _problems(validator, 2, _set(_item(), pointer, value))


HEADER_MALFORMED = [
    ("/item_count", "3"),
    ("/item_count", 0),
    ("/file_id", ""),
    ("/file_id", _DELETE),
    ("/created", _DELETE),
    ("/item_id", "CP610010012BR"),
]


@pytest.mark.parametrize(("pointer", "value"), HEADER_MALFORMED)
def test_malformed_header_is_refused(
    validator: jsonschema.protocols.Validator, pointer: str, value: Any
) -> None:
    assert _problems(validator, 1, _set(_header(), pointer, value))


PER_ITEM = [
    ("/item_id", "CP610010013BR"),  # s10_check_digit, from the rules
    ("/service", "sedex"),  # code_unknown, from the adapter
    ("/category", "doação"),
    ("/gross_weight_kg", "1.250"),  # value_invalid: a dot is a thousands separator in pt-BR
    ("/lines/0/value", "R$ 89,70"),
    ("/posted_at", "2026-11-28T09:15:00"),  # value_invalid: no offset
    ("/currency", "R$"),  # currency_unknown
    ("/sender/tax_id", "123.456.789"),  # value_invalid: neither CPF nor CNPJ
    ("/recipient/country", "XX"),  # country_unknown
    ("/lines/0/hs_code", "61"),  # hs_code_invalid
    ("/lines", []),  # required_missing on contents
    ("/sender", _DELETE),  # required_missing on sender.name and sender.address.country
    ("/category_note", None),
]


@pytest.mark.parametrize(("pointer", "value"), PER_ITEM)
def test_per_item_problems_are_left_to_the_item(
    validator: jsonschema.protocols.Validator, pointer: str, value: Any
) -> None:
    assert _problems(validator, 2, _set(_item(), pointer, value)) == []
