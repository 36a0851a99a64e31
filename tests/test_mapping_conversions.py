"""The conversions of issue 11 ("a mapping language that needs no Python for real
formats") on small inline documents: what each reads, where each error points, and the
combinations refused when the mapping loads."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.mapping import Mapping, MappingError
from gateway.canonical import CanonicalItem, Category, MailClass, Money, item_to_dict
from gateway.codes import ItemCode
from gateway.contract import ItemError
from gateway.document import parse

JSON = """
    operator = "test"
    format = "test-json"
    version = "1"
    kind = "json"
    detect = {{ has = ["/id"] }}
    message_ref = {{ path = "/id" }}
    items = {{ path = "/groups/*/parcels" }}
    sender = {{ path = "from" }}
    addressee = {{ path = "to" }}
    codes.service = {{ C = "PARCEL", E = "EMS", L = "LETTER" }}
    patterns.service = {{ EMS = 'E.*', PARCEL = 'C.*', LETTER = '[LRUV].*' }}

    [item]
    item_id = "barcode"
    {item}

    [party]
    name = "name"
    address.country = {{ path = "country", convert = "country" }}

    [contents]
    path = "items"
    {contents}
"""


def mapping(tmp_path: Path, item: str = "", contents: str = "", text: str = JSON) -> Mapping:
    path = tmp_path / "m.toml"
    body = textwrap.dedent(text).format(item=item, contents=contents)
    path.write_text(body, encoding="utf-8")
    return Mapping.load(str(path))


def translate(m: Mapping, doc: str) -> list[CanonicalItem | ItemError]:
    return list(m.translate(parse(doc.encode(), "application/json")))


def parcels(*parcels: str, top: str = "") -> str:
    return f'{{"id": "M-1", {top} "groups": [{{"parcels": [{", ".join(parcels)}]}}]}}'


# --- values read --------------------------------------------------------------------------------


def test_nested_arrays_are_every_parcel_of_every_group(tmp_path: Path) -> None:
    m = mapping(tmp_path)
    doc = '{"id": "M", "groups": [{"parcels": [{"barcode": "A"}, {"barcode": "B"}]}, {"parcels": [{"barcode": "C"}]}]}'  # noqa: E501
    items = translate(m, doc)
    assert [(i.item_id, i.source_path) for i in items] == [  # type: ignore[union-attr]
        ("A", "/groups/0/parcels/0"),
        ("B", "/groups/0/parcels/1"),
        ("C", "/groups/1/parcels/0"),
    ]


def test_date_layout_and_zone_from_the_document(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        item='posted_at = { path = "/created", layout = "%m/%d/%Y %H:%M", zone_path = "/tz" }',
    )
    top = '"created": "11/27/2026 22:15", "tz": "America/New_York",'
    (item,) = translate(m, parcels('{"barcode": "A"}', top=top))
    assert isinstance(item, CanonicalItem)
    assert item.posted_at == datetime(2026, 11, 28, 3, 15, tzinfo=UTC)
    assert item.field_paths["posted_at"] == "/created"
    bad_zone = '"created": "11/27/2026 22:15", "tz": "America/Gotham",'
    (error,) = translate(m, parcels('{"barcode": "A"}', top=bad_zone))
    assert isinstance(error, ItemError)
    assert (error.code, error.path) == (ItemCode.VALUE_INVALID, "/tz")
    assert "'America/Gotham' is not an IANA time zone" in error.message
    twice = '"created": "11/01/2026 01:30", "tz": "America/New_York",'
    (error,) = translate(m, parcels('{"barcode": "A"}', top=twice))
    assert isinstance(error, ItemError) and error.path == "/created"
    assert "clock change" in error.message


def test_compound_units_and_per_unit_lines(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        item='gross_weight_kg = { units = { lb = "weight/lb", oz = "weight/oz" } }',
        contents='net_weight_kg = { units = { lb = "w/lb", oz = "w/oz" }, times = "qty" }',
    )
    parcel = (
        '{"barcode": "A", "weight": {"lb": 2, "oz": 4}, "items": [{"qty": 2, "w": {"oz": 14}}]}'
    )
    (item,) = translate(m, parcels(parcel))
    assert isinstance(item, CanonicalItem)
    assert item.gross_weight_kg == 2 * Decimal("0.45359237") + 4 * Decimal("0.028349523125")
    assert item_to_dict(item)["gross_weight_kg"] == "1.021"  # 1.0205828 half-even, once
    assert item_to_dict(item)["contents"][0]["net_weight_kg"] == "0.794"
    assert item.field_paths["gross_weight_kg"] == "/groups/0/parcels/0/weight/lb"
    (error,) = translate(m, parcels('{"barcode": "A", "weight": {"lb": "two"}}'))
    assert isinstance(error, ItemError) and error.path == "/groups/0/parcels/0/weight/lb"


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        ("currency_in_value = true", "45.00 EUR", Money(Decimal("45.00"), "EUR")),
        ("currency_in_value = true", "EUR 45.00", Money(Decimal("45.00"), "EUR")),
        ("currency_in_value = true", "€9.90", Money(Decimal("9.90"), "EUR")),
        ("currency_in_value = true", "£ 1299.00", Money(Decimal("1299.00"), "GBP")),
        ('symbols = { "$" = "USD" }', "$18.50", Money(Decimal("18.50"), "USD")),
        (
            'symbols = { "R$" = "BRL" }, decimal_comma = true',
            "R$ 40,00",
            Money(Decimal("40.00"), "BRL"),
        ),
    ],
)
def test_amounts_with_their_currency(tmp_path: Path, spec: str, raw: str, expected: Money) -> None:
    m = mapping(tmp_path, item=f'total_value = {{ path = "price", {spec} }}')
    (item,) = translate(m, parcels(f'{{"barcode": "A", "price": "{raw}"}}'))
    assert isinstance(item, CanonicalItem) and item.total_value == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("$18.50", "'$' in '$18.50' names no one currency"),
        ("18.50", "'18.50' has no currency"),
        ("9,90 EUR", "'9,90' is not a decimal number with a decimal point"),
    ],
)
def test_amounts_the_mapping_cannot_read(tmp_path: Path, raw: str, message: str) -> None:
    m = mapping(tmp_path, item='total_value = { path = "price", currency_in_value = true }')
    (error,) = translate(m, parcels(f'{{"barcode": "A", "price": "{raw}"}}'))
    assert isinstance(error, ItemError)
    assert (error.code, error.path) == (ItemCode.VALUE_INVALID, "/groups/0/parcels/0/price")
    assert message in error.message


def test_country_names_and_one_error_for_one_bad_value(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        item='destination_country = { field = "addressee.address.country" }\n'
        'origin_country = { path = "from/country", convert = "country" }',
    )
    good = '{"barcode": "A", "from": {"country": "Russia"}, "to": {"country": "United Kingdom"}}'
    (item,) = translate(m, parcels(good))
    assert isinstance(item, CanonicalItem)
    assert (item.origin_country, item.destination_country) == ("RU", "GB")
    assert item.field_paths["destination_country"] == "/groups/0/parcels/0/to/country"
    bad = '{"barcode": "A", "from": {"country": "Congo"}, "to": {"country": "Korea"}}'
    (error,) = translate(m, parcels(bad))
    assert isinstance(error, ItemError)
    errors = m.every_error(parse(parcels(bad).encode(), "application/json"))
    # from/country is read by origin_country and sender.address.country: reported once
    assert [(e.path, e.code) for e in errors] == [
        ("/groups/0/parcels/0/from/country", ItemCode.VALUE_INVALID),
        ("/groups/0/parcels/0/to/country", ItemCode.VALUE_INVALID),
    ]
    assert "'Congo' is ambiguous: CG" in errors[0].message
    assert error.message.endswith("(and 1 more)")


def test_match_and_slice_into_enum_fields(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        item='mail_class = { path = "barcode", slice = [0, 1], codes = "service" }\n'
        'category = { path = "kind", patterns = "kinds" }',
        text=JSON + "\n[patterns.kinds]\nGIFT = 'gift|present'\nSALE_OF_GOODS = 'sale.*'\n",
    )
    (item, error) = translate(
        m,
        parcels('{"barcode": "EE123", "kind": "present"}', '{"barcode": "XE1", "kind": "sales"}'),
    )
    assert isinstance(item, CanonicalItem)
    assert (item.mail_class, item.category) == (MailClass.EMS, Category.GIFT)
    assert isinstance(error, ItemError) and error.code is ItemCode.CODE_UNKNOWN
    assert "'X'" in error.message


def test_a_sum_with_times_adds_products_entry_by_entry(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        item='total_value = { sum = "items/*/price", times = "items/*/qty", currency = "USD" }',
    )
    parcel = (
        '{"barcode": "A", "items": [{"price": "18.50", "qty": 2}, {"price": "9.99", "qty": 1}]}'
    )
    (item,) = translate(m, parcels(parcel))
    assert isinstance(item, CanonicalItem)
    assert item.total_value == Money(Decimal("46.99"), "USD")  # not (18.50 + 9.99) x 2
    no_qty = '{"barcode": "A", "items": [{"price": "18.50"}]}'
    (error,) = translate(m, parcels(no_qty))
    assert isinstance(error, ItemError)
    assert "has no quantity to multiply by" in error.message


def test_xml_attribute_errors_name_the_attribute(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        text="""
        operator = "test"
        format = "test-xml"
        version = "1"
        kind = "xml"
        detect = { root = "shipment" }
        message_ref = { path = "@ref" }
        items = { path = "item" }
        [item]
        item_id = "@id"
        gross_weight_kg = { path = "@weight-g", unit = "g" }
        total_value = { path = "@value", currency = "EUR", decimal_comma = true }
        """.replace("{", "{{").replace("}", "}}"),
    )
    doc = '<shipment ref="S"><item id="A" weight-g="10"/><item id="B" weight-g="x" value="1.5"/></shipment>'  # noqa: E501
    good, bad = m.translate(parse(doc.encode(), "application/xml"))
    assert isinstance(good, CanonicalItem)
    assert isinstance(bad, ItemError) and bad.path == "/shipment/item[2]/@weight-g"
    errors = m.every_error(parse(doc.encode(), "application/xml"))
    assert [e.path for e in errors] == ["/shipment/item[2]/@weight-g", "/shipment/item[2]/@value"]


# --- refused when the mapping loads ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            'total_value = { sum = "items/*/price", times = "qty", currency = "USD" }',
            "item.total_value.times: 'qty' is not read in each entry",
        ),
        ('total_value = { path = "price" }', "item.total_value: say where the currency is"),
        (
            'total_value = { path = "p", currency = "USD", currency_in_value = true }',
            "not currency and currency_in_value",
        ),
        ('total_value = { path = "p", symbols = { "$" = "USX" } }', "'USX' is not an ISO 4217"),
        ('total_value = { path = "p", symbols = { "€" = "USD" } }', "'€' always means EUR"),
        (
            'total_value = { path = "p", currency_in_value = true, minor_units = true }',
            "minor units carry no currency mark",
        ),
        (
            'posted_at = { path = "t", layout = "%m/%d/%Y %H:%M" }',
            "has no offset (%z): say where the times are",
        ),
        ('posted_at = { path = "t", layout = "%H:%M", zone = "UTC" }', "year, month and day"),
        ('posted_at = { path = "t", zone = "Mars/Olympus" }', "unknown time zone"),
        ('posted_at = { path = "t", zone = "UTC", zone_path = "tz" }', "give zone or zone_path"),
        ('gross_weight_kg = { units = { lb = "a", stone = "b" } }', "units.stone: weight unit"),
        ('gross_weight_kg = { units = { lb = "a" }, unit = "g" }', "give units, or unit"),
        ('mail_class = { path = "m", convert = "decimal" }', "it takes: code (a code list"),
        ('category = { path = "k", patterns = "bad" }', "patterns.bad.GIFTS: 'GIFTS' is not a"),
        ('destination_country = { field = "addressee.city" }', "no field here; known:"),
        ('mail_class = { path = "m", codes = "service", slice = [0, "1"] }', "[start, end]"),
    ],
)
def test_what_cannot_be_computed_is_refused_at_load(
    tmp_path: Path, item: str, message: str
) -> None:
    text = JSON + "\n[patterns.bad]\nGIFTS = 'x'\n"
    with pytest.raises(MappingError) as caught:
        mapping(tmp_path, item=item, text=text)
    assert str(caught.value).startswith(str(tmp_path / "m.toml") + ": ")
    assert message in str(caught.value)
