"""Model, XSD and JSON Schema in step: the canonical record is defined three times
(gateway/canonical.py, xsd/canonical.xsd, xsd/canonical.schema.json) and these tests fail
as soon as one of them changes alone."""

from __future__ import annotations

import copy
import hashlib
import json
import types
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any, Union, get_args, get_origin, get_type_hints

import jsonschema
import pytest
import xmlschema
from lxml import etree

from gateway.canonical import (
    Address,
    CanonicalItem,
    Category,
    ContentLine,
    Document,
    Envelope,
    Function,
    ItemIdScheme,
    MailClass,
    Money,
    Party,
    TaxId,
    Transport,
    record_to_dict,
)
from gateway.canonical_xml import LIST_ENTRIES, NAMESPACE, record_element, records_document
from gateway.codes import Flag
from xsd import schema_path

JSON_SCHEMA = json.loads(schema_path("canonical.schema.json").read_text(encoding="utf-8"))
JSON_VALIDATOR = jsonschema.Draft202012Validator(JSON_SCHEMA)
XSD = xmlschema.XMLSchema(str(schema_path("canonical.xsd")))
LXML_XSD = etree.XMLSchema(etree.parse(str(schema_path("canonical.xsd"))))


# the model, field by field


def _shape(hint: Any) -> tuple[Any, bool, bool]:
    """(inner type, nullable, is a list) of a dataclass field's type hint."""
    nullable = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    if nullable:
        (hint,) = [arg for arg in get_args(hint) if arg is not type(None)]
    if get_origin(hint) is list:
        return get_args(hint)[0], nullable, True
    return hint, nullable, False


def _record_hints() -> dict[str, Any]:
    """The record's fields as the wire form has them: the envelope's win over the item's
    bookkeeping ``function``/``revision``; ``field_paths`` is never serialized."""
    hints = get_type_hints(CanonicalItem) | get_type_hints(Envelope) | {"canonical_version": str}
    del hints["field_paths"]
    return hints


def _json_node(node: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of a property, with its ``$ref`` followed."""
    if "anyOf" in node:
        (node,) = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
    while "$ref" in node:
        node = JSON_SCHEMA["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def _json_accepts_null(node: dict[str, Any]) -> bool:
    return JSON_VALIDATOR.evolve(schema=node).is_valid(None)


def _assert_in_step(
    where: str, names: list[str], hints: dict[str, Any], xsd_type: Any, json_node: dict[str, Any]
) -> None:
    xsd_children = {child.local_name: child for child in xsd_type.content.iter_elements()}
    assert list(xsd_children) == names, f"XSD {where}"
    properties = json_node["properties"]
    assert list(properties) == names, f"JSON Schema {where}"
    assert json_node["required"] == names, f"JSON Schema {where} required"
    assert json_node["additionalProperties"] is False
    for name in names:
        inner, nullable, is_list = _shape(hints[name])
        element, prop = xsd_children[name], properties[name]
        assert element.min_occurs == (0 if nullable or is_list else 1), f"{where}.{name}"
        assert element.max_occurs == 1, f"{where}.{name}"
        assert _json_accepts_null(prop) == nullable, f"{where}.{name} null"
        if is_list:
            (entry,) = element.type.content.iter_elements()
            assert entry.local_name == LIST_ENTRIES[name], f"{where}.{name} entry"
            assert (entry.min_occurs, entry.max_occurs) == (1, None)
            assert _json_node(prop)["type"] == "array"
            element, prop = entry, _json_node(prop)["items"]
        if is_dataclass(inner):
            nested = [f.name for f in fields(inner)]
            _assert_in_step(
                f"{where}.{name}", nested, get_type_hints(inner), element.type, _json_node(prop)
            )
        elif isinstance(inner, type) and issubclass(inner, StrEnum):
            values = [member.value for member in inner]
            assert element.type.enumeration == values, f"XSD {where}.{name} enum"
            assert _json_node(prop)["enum"] == values, f"JSON Schema {where}.{name} enum"


def test_record_fields_equal_model_fields_recursively() -> None:
    names = list(record_to_dict(ENVELOPE, full_item()))
    assert set(names) == set(_record_hints())
    _assert_in_step("Record", names, _record_hints(), XSD.elements["Record"].type, JSON_SCHEMA)


def test_quality_flags_are_the_catalogue() -> None:
    flags = [flag.value for flag in Flag]
    (entry,) = XSD.types["QualityFlagsType"].content.iter_elements()
    assert entry.type.enumeration == flags
    assert JSON_SCHEMA["properties"]["quality_flags"]["items"]["enum"] == flags


def test_records_wraps_records_with_an_optional_cursor() -> None:
    records = XSD.elements["Records"].type
    (entry,) = records.content.iter_elements()
    assert (entry.local_name, entry.min_occurs, entry.max_occurs) == ("Record", 0, None)
    assert list(records.attributes) == ["next"]
    assert not records.attributes["next"].is_required()


def test_json_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    assert JSON_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# a full record, every field set, and broken copies of it

ENVELOPE = Envelope(
    record_id="0193a2b4-7c1d-7e2f-8a9b-0c1d2e3f4a5b",
    revision=2,
    function=Function.UPDATE,
    operator="alpha",
    source_format="alpha-itmatt/11",
    message_id="msg-20261128-0042",
    message_ref="ALPHA-20261128-0001",
    received_at=datetime(2026, 11, 28, 9, 2, 11, tzinfo=UTC),
    raw_sha256=hashlib.sha256(b"<ITMATT/>").hexdigest(),
)


def _party(name: str, country: str, tax: str) -> Party:
    return Party(
        name=name,
        name_original=f"{name} (original)",
        business_name=f"{name} Ltd",
        address=Address(
            lines=["Flat 3", "12 B High Street"],
            street="High Street",
            house_number="12 B",
            postcode="EC1A 1BB",
            city="London",
            region="Greater London",
            country=country,
        ),
        phone="+442079460018",
        email="someone@example.org",
        tax_ids=[TaxId(scheme="EORI", value=tax)],
    )


def full_item() -> CanonicalItem:
    return CanonicalItem(
        item_id="RR123456785GB",
        source_path="/ITMATT/Items/Item[1]",
        item_id_scheme=ItemIdScheme.S10,
        mail_class=MailClass.PARCEL,
        category=Category.OTHER,
        category_explanation="Repaired watch sent back",
        origin_country="GB",
        destination_country="US",
        posted_at=datetime(2026, 11, 28, 17, 2, 11, tzinfo=timezone(timedelta(hours=8))),
        gross_weight_kg=Decimal("0.55"),
        pieces=1,
        total_value=Money(Decimal("30.5"), "GBP"),
        postal_charges=Money(Decimal("1500"), "JPY"),
        sender=_party("Jane Smith", "GB", "GB123456789000"),
        addressee=_party("John Doe", "US", "US-EIN-12-3456789"),
        contents=[
            ContentLine(
                line_no=n,
                description="Wrist watch",
                quantity=Decimal("2.50"),
                unit="PCE",
                net_weight_kg=Decimal("0.2"),
                value=Money(Decimal("15.25"), "GBP"),
                hs_code="9102110000",
                origin_country="CH",
            )
            for n in (1, 2)
        ],
        documents=[Document(type="INVOICE", number="INV-7")],
        transport=Transport(
            dispatch_id="GBLONAUSJFKAAUN60001",
            receptacle_id="GBLONAUSJFKAAUN60001001000150",
            carrier="BA",
            flight="BA117",
            departure_at=datetime(2026, 11, 28, 18, 30, tzinfo=UTC),
            arrival_at=datetime(2026, 11, 28, 21, 45, 0, 500000, tzinfo=UTC),
        ),
        function=Function.UPDATE,
        revision=2,
        quality_flags=[Flag.VALUE_MISMATCH.value, Flag.PHONE_INVALID.value],
    )


def full_record() -> dict[str, Any]:
    return record_to_dict(ENVELOPE, full_item())


def _every_field_set(value: Any, where: str = "record") -> None:
    assert value is not None and value != [], where
    if isinstance(value, dict):
        for name, child in value.items():
            _every_field_set(child, f"{where}.{name}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _every_field_set(child, f"{where}[{index}]")


def _xml(record: dict[str, Any]) -> etree._Element:
    return etree.fromstring(records_document([record], "c-42"))


def test_full_record_validates_in_both_schemas() -> None:
    record = full_record()
    _every_field_set(record)
    # the wire forms DESIGN.md fixes, checked by hand
    assert record["gross_weight_kg"] == "0.550"
    assert record["total_value"] == {"amount": "30.50", "currency": "GBP"}
    assert record["postal_charges"] == {"amount": "1500", "currency": "JPY"}
    assert record["posted_at"] == "2026-11-28T09:02:11Z"
    assert record["transport"]["arrival_at"] == "2026-11-28T21:45:00.500000Z"
    assert record["contents"][0]["quantity"] == "2.5"

    JSON_VALIDATOR.validate(record)
    document = _xml(record)
    XSD.validate(document)
    assert LXML_XSD.validate(document.getroottree())
    assert XSD.is_valid(etree.ElementTree(record_element(record)))


def test_xml_rendering_follows_the_json_form() -> None:
    root = _xml(full_record())
    ns = {"c": NAMESPACE}
    assert root.tag == f"{{{NAMESPACE}}}Records" and root.get("next") == "c-42"
    (record,) = root
    assert record.findtext("c:item_id", namespaces=ns) == "RR123456785GB"
    assert record.findtext("c:total_value/c:amount", namespaces=ns) == "30.50"
    lines = record.findall("c:contents/c:line", namespaces=ns)
    assert [line.findtext("c:line_no", namespaces=ns) for line in lines] == ["1", "2"]
    street = record.findall("c:sender/c:address/c:lines/c:line", namespaces=ns)
    assert [line.text for line in street] == ["Flat 3", "12 B High Street"]
    flags = record.findall("c:quality_flags/c:flag", namespaces=ns)
    assert [flag.text for flag in flags] == ["value_mismatch", "phone_invalid"]
    assert record.find("c:sender/c:tax_ids/c:tax_id/c:scheme", namespaces=ns).text == "EORI"


def test_null_and_empty_fields_are_omitted_and_still_valid() -> None:
    item = CanonicalItem(item_id="GB-4711", source_path="/parcels/0")
    record = record_to_dict(ENVELOPE, item)
    JSON_VALIDATOR.validate(record)
    element = record_element(record)
    XSD.validate(etree.ElementTree(element))
    names = [etree.QName(child).localname for child in element]
    assert "posted_at" not in names and "contents" not in names and "sender" in names
    assert [etree.QName(c).localname for c in element.find(f"{{{NAMESPACE}}}sender")] == ["address"]


def test_empty_page_and_no_cursor() -> None:
    document = etree.fromstring(records_document([], None))
    assert document.get("next") is None and len(document) == 0
    XSD.validate(document)


def test_characters_xml_cannot_carry_are_replaced() -> None:
    record = full_record()
    record["sender"]["name"] = "Jane\x01Smith"
    sender = record_element(record).find(f"{{{NAMESPACE}}}sender")
    assert sender.findtext(f"{{{NAMESPACE}}}name") == "Jane\ufffdSmith"


def test_markup_and_line_ends_in_values_come_back_as_sent() -> None:
    """The XML is written as text: what a parser reads back is the value, unchanged."""
    record = full_record()
    name = 'A "quoted" & <odd> name\r\nline two\ttab'
    record["sender"]["name"] = name
    document = _xml(record)
    XSD.validate(document)
    assert document.findtext("c:Record/c:sender/c:name", namespaces={"c": NAMESPACE}) == name


def _set(path: str, value: Any) -> Any:
    def mutate(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        holder: Any = record
        for part in parents:
            holder = holder[int(part)] if part.isdigit() else holder[part]
        if value is _DELETE:
            del holder[last]
        else:
            holder[last] = value

    return pytest.param(mutate, id=f"{path}={value!r}")


_DELETE = object()

BROKEN = [
    _set("item_id", "rr123456785gb"),
    _set("item_id", "RR 123456785 GB"),
    _set("gross_weight_kg", "0.55"),
    _set("total_value.currency", "gbp"),
    _set("total_value.amount", "-30.50"),
    _set("total_value.amount", "30,50"),
    _set("received_at", "2026-11-28T10:02:11+01:00"),
    _set("transport.departure_at", "2026-11-28 18:30:00Z"),
    _set("category", "PRESENT"),
    _set("function", "DELETE"),
    _set("contents.0.hs_code", "6109.10"),
    _set("contents.1.origin_country", "CHE"),
    _set("contents.0.quantity", "-1"),
    _set("quality_flags", ["bad_flag"]),
    _set("raw_sha256", "abc"),
    _set("revision", 0),
    _set("canonical_version", "2"),
    _set("source_format", "alpha-itmatt"),
    _set("sender", _DELETE),
    _set("addressee.address", _DELETE),
    _set("extra", "not in the record"),
]


@pytest.mark.parametrize("mutate", BROKEN)
def test_a_broken_record_fails_both_schemas(mutate: Any) -> None:
    record = copy.deepcopy(full_record())
    mutate(record)
    assert not JSON_VALIDATOR.is_valid(record)
    document = _xml(record)
    assert not XSD.is_valid(document)
    assert not LXML_XSD.validate(document.getroottree())
