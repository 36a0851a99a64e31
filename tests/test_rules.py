"""The canonical rules: one hand-made item, broken one way per test.

Every expected value below is worked out from DOMAIN.md and common.md, not taken from
the code: S10 digits in tests/test_s10.py, GBP has 2 minor units and JPY none (ISO 4217),
"020 7946 0018" in GB is +44 20 7946 0018 in E.164.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.canonical import (
    Address,
    CanonicalItem,
    Category,
    ContentLine,
    ItemIdScheme,
    MailClass,
    Money,
    Party,
)
from gateway.codes import Flag, ItemCode
from gateway.ingest.rules import REQUIRED, RuleError, check, required_table_markdown


def gbp(amount: str) -> Money:
    return Money(Decimal(amount), "GBP")


def sale() -> CanonicalItem:
    """A sale-of-goods parcel GB -> US that breaks no rule: 20.50 + 10.00 = 30.50 GBP,
    0.400 + 0.100 kg of lines in a 0.550 kg item."""
    return CanonicalItem(
        item_id="RR123456785GB",
        source_path="/ITMATT/Items/Item[1]",
        mail_class=MailClass.PARCEL,
        category=Category.SALE_OF_GOODS,
        origin_country="GB",
        destination_country="US",
        gross_weight_kg=Decimal("0.550"),
        total_value=gbp("30.50"),
        sender=Party(
            name="Jane Smith",
            address=Address(street="High Street", city="London", country="GB"),
            phone="020 7946 0018",
        ),
        addressee=Party(
            name="John Doe",
            address=Address(lines=["12 Main St", "New York NY 10001"], country="US"),
        ),
        contents=[
            ContentLine(
                line_no=1,
                description="Cotton T-shirt",
                quantity=Decimal(2),
                net_weight_kg=Decimal("0.400"),
                value=gbp("20.50"),
                hs_code="6109.10",
                origin_country="CN",
            ),
            ContentLine(
                line_no=2,
                description="Wool scarf",
                quantity=Decimal(1),
                net_weight_kg=Decimal("0.100"),
                value=gbp("10.00"),
                hs_code="611710",
                origin_country="GB",
            ),
        ],
    )


def codes(errors: list[RuleError]) -> list[tuple[str, ItemCode]]:
    return [(error.field, error.code) for error in errors]


def test_a_good_item_passes_and_is_normalised() -> None:
    item = sale()
    assert check(item) == []
    assert item.item_id_scheme is ItemIdScheme.S10
    assert item.contents[0].hs_code == "610910"
    assert item.sender.phone == "+442079460018"
    assert item.pieces == 1
    assert item.quality_flags == []


def test_check_is_idempotent() -> None:
    item = sale()
    check(item)
    again = sale()
    check(again)
    assert check(again) == [] and again == item


# item id


def test_item_id_is_stripped_and_upper_cased() -> None:
    item = sale()
    item.item_id = " rr123456785gb "
    assert check(item) == []
    assert item.item_id == "RR123456785GB"


def test_s10_check_digit() -> None:
    item = sale()
    item.item_id = "RR123456784GB"
    errors = check(item)
    assert codes(errors) == [("item_id", ItemCode.S10_CHECK_DIGIT)]
    assert errors[0].message == "check digit is 4, expected 5"


def test_s10_issuing_country_must_be_iso() -> None:
    item = sale()
    item.item_id = "RR287043775ZZ"  # digit 5 is right (tests/test_s10.py)
    assert codes(check(item)) == [("item_id", ItemCode.COUNTRY_UNKNOWN)]


@pytest.mark.parametrize("item_id", ["GB-4711-0815", "1Z999AA10123456784", "RR12345678GB"])
def test_s10_invalid_unless_bilateral_ids_are_allowed(item_id: str) -> None:
    item = sale()
    item.item_id = item_id
    assert codes(check(item)) == [("item_id", ItemCode.S10_INVALID)]
    assert item.item_id_scheme is None

    item = sale()
    item.item_id = item_id
    assert check(item, allow_bilateral=True) == []
    assert item.item_id_scheme is ItemIdScheme.BILATERAL


def test_an_s10_shaped_id_is_checked_as_s10_even_where_bilateral_is_allowed() -> None:
    item = sale()
    item.item_id = "RR123456784GB"
    assert codes(check(item, allow_bilateral=True)) == [("item_id", ItemCode.S10_CHECK_DIGIT)]


@pytest.mark.parametrize("item_id", ["AB 123", "A" * 36, "-ABC", "ÄBC"])
def test_bilateral_id_shape(item_id: str) -> None:
    item = sale()
    item.item_id = item_id
    assert codes(check(item, allow_bilateral=True)) == [("item_id", ItemCode.VALUE_INVALID)]


# countries and currencies


def _set_country(item: CanonicalItem, field: str, value: str) -> None:
    holders = {
        "origin_country": (item, "origin_country"),
        "destination_country": (item, "destination_country"),
        "sender.address.country": (item.sender.address, "country"),
        "addressee.address.country": (item.addressee.address, "country"),
        "contents[2].origin_country": (item.contents[1], "origin_country"),
    }
    setattr(*holders[field], value)


COUNTRY_FIELDS = [
    "origin_country",
    "destination_country",
    "sender.address.country",
    "addressee.address.country",
    "contents[2].origin_country",
]


@pytest.mark.parametrize("field", COUNTRY_FIELDS)
def test_country_unknown(field: str) -> None:
    item = sale()
    _set_country(item, field, "UK")  # the UK's ISO code is GB; UK is not assigned
    errors = check(item)
    assert codes(errors) == [(field, ItemCode.COUNTRY_UNKNOWN)]
    assert "'UK'" in errors[0].message


@pytest.mark.parametrize("field", COUNTRY_FIELDS)
def test_country_is_upper_cased(field: str) -> None:
    item = sale()
    _set_country(item, field, " us ")
    assert check(item) == []
    item2 = sale()
    _set_country(item2, field, "US")
    check(item2)
    assert item == item2


def test_currency_unknown() -> None:
    item = sale()
    item.postal_charges = Money(Decimal("5.00"), "XYZ")
    item.contents[1].value = Money(Decimal("10.00"), "gbp")
    assert codes(check(item)) == [("postal_charges.currency", ItemCode.CURRENCY_UNKNOWN)]
    assert item.contents[1].value == gbp("10.00")


# values, weights, quantities


@pytest.mark.parametrize(
    ("money", "ok"),
    [
        (Money(Decimal("30.50"), "GBP"), True),
        (Money(Decimal("30.500"), "GBP"), True),  # a trailing zero needs no third decimal
        (Money(Decimal("30.505"), "GBP"), False),  # GBP has 2 minor units
        (Money(Decimal("3050"), "JPY"), True),
        (Money(Decimal("3050.5"), "JPY"), False),  # JPY has none
        (Money(Decimal("1.234"), "BHD"), True),  # BHD has 3
        (Money(Decimal("-1.00"), "GBP"), False),
        (Money(Decimal("NaN"), "GBP"), False),
        (Money(Decimal("0"), "GBP"), True),
        (Money(Decimal("30.5"), "GBP"), True),  # fewer decimals than the currency has
        (Money(Decimal("0.10"), "JPY"), False),
        (Money(Decimal("1E+40"), "GBP"), True),  # too large to store: the guard's, not ours
    ],
)
def test_money_amount_value_invalid(money: Money, ok: bool) -> None:
    item = sale()
    item.postal_charges = money
    expected = [] if ok else [("postal_charges.amount", ItemCode.VALUE_INVALID)]
    assert codes(check(item)) == expected


def test_negative_weights_quantities_and_pieces_are_value_invalid() -> None:
    item = sale()
    item.gross_weight_kg = Decimal("-0.1")
    item.contents[0].net_weight_kg = Decimal("-0.4")
    item.contents[1].quantity = Decimal(-1)
    item.pieces = 0
    assert codes(check(item)) == [
        ("gross_weight_kg", ItemCode.VALUE_INVALID),
        ("contents[1].net_weight_kg", ItemCode.VALUE_INVALID),
        ("contents[2].quantity", ItemCode.VALUE_INVALID),
        ("pieces", ItemCode.VALUE_INVALID),
    ]


def test_zero_weight_is_allowed() -> None:
    item = sale()
    item.contents[1].net_weight_kg = Decimal("0.000")
    assert check(item) == []


# HS codes


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [("6109.10", "610910"), ("6109 10 00", "61091000"), ("6109-10-00-10", "6109100010")],
)
def test_hs_code_separators_are_removed(sent: str, canonical: str) -> None:
    item = sale()
    item.contents[0].hs_code = sent
    assert check(item) == []
    assert item.contents[0].hs_code == canonical
    assert item.quality_flags == []


@pytest.mark.parametrize("sent", ["61091", "6109.1A", "HS610910", "61O910", "６１０９１０"])
def test_hs_code_invalid(sent: str) -> None:
    item = sale()
    item.contents[1].hs_code = sent
    assert codes(check(item)) == [("contents[2].hs_code", ItemCode.HS_CODE_INVALID)]


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [("610910001234", "6109100012"), ("6109.10.00.123", "6109100012")],
)
def test_hs_truncated(sent: str, canonical: str) -> None:
    item = sale()
    item.contents[0].hs_code = sent
    item.contents[1].hs_code = "6117.10.00.99.9"  # 11 digits: one flag per item, not per line
    assert check(item) == []
    assert item.contents[0].hs_code == canonical
    assert item.contents[1].hs_code == "6117100099"
    assert item.quality_flags == [Flag.HS_TRUNCATED]


def test_a_long_code_with_a_letter_is_invalid_not_truncated() -> None:
    item = sale()
    item.contents[0].hs_code = "61091000123X"
    assert codes(check(item)) == [("contents[1].hs_code", ItemCode.HS_CODE_INVALID)]
    assert item.quality_flags == []


# phones and pieces


def test_national_phone_takes_the_party_country() -> None:
    item = sale()
    item.addressee.phone = "(212) 555-0123"
    item.sender.address.country = "es"  # upper-cased before it is used as the region
    item.sender.phone = "612 345 678"
    assert check(item) == []
    assert (item.sender.phone, item.addressee.phone) == ("+34612345678", "+12125550123")


def test_international_phone_keeps_its_own_country() -> None:
    item = sale()
    item.addressee.phone = "+44 20 7946 0018"  # a GB number for a US addressee
    check(item)
    assert item.addressee.phone == "+442079460018"


def test_phone_invalid_is_kept_as_sent_and_flagged_once() -> None:
    item = sale()
    item.sender.phone = "12"
    item.addressee.phone = "call me"
    assert check(item) == []
    assert (item.sender.phone, item.addressee.phone) == ("12", "call me")
    assert item.quality_flags == [Flag.PHONE_INVALID]


def test_blank_phone_is_absent() -> None:
    item = sale()
    item.sender.phone = "  "
    check(item)
    assert item.sender.phone is None
    assert item.quality_flags == []


def test_pieces_default_to_one_but_stated_pieces_stay() -> None:
    item = sale()
    item.pieces = 3
    check(item)
    assert item.pieces == 3


# required fields


def _bare(category: Category | None) -> CanonicalItem:
    return CanonicalItem(
        item_id="RR123456785GB",
        source_path="/x",
        category=category,
        contents=[ContentLine(line_no=1)],
    )


def test_required_missing_every_category() -> None:
    errors = check(_bare(Category.DOCUMENTS))
    assert {error.code for error in errors} == {ItemCode.REQUIRED_MISSING}
    assert [error.field for error in errors] == [
        "mail_class",
        "origin_country",
        "destination_country",
        "gross_weight_kg",
        "sender.name",
        "sender.address.country",
        "sender.address",
        "addressee.name",
        "addressee.address.country",
        "addressee.address",
        "contents[1].description",
    ]
    by_field = {error.field: error.message for error in errors}
    assert "sender.address.lines or sender.address.city" in by_field["sender.address"]
    assert "contents[1].description" in by_field["contents[1].description"]


def test_required_without_category_asks_for_the_category() -> None:
    fields = [error.field for error in check(_bare(None))]
    assert "category" in fields and "total_value" not in fields


COMMERCIAL_LINE = ["contents[1].hs_code", "contents[1].origin_country", "contents[1].value"]


@pytest.mark.parametrize(
    ("category", "extra"),
    [
        (Category.GIFT, ["total_value"]),
        (Category.RETURNED_GOODS, ["total_value"]),
        (Category.OTHER, ["total_value", "category_explanation"]),
        (Category.COMMERCIAL_SAMPLE, ["total_value", *COMMERCIAL_LINE]),
        (Category.SALE_OF_GOODS, ["total_value", *COMMERCIAL_LINE]),
    ],
)
def test_required_by_category(category: Category, extra: list[str]) -> None:
    base = [error.field for error in check(_bare(Category.DOCUMENTS))]
    assert [error.field for error in check(_bare(category))] == base + extra


def test_required_per_line_names_each_line() -> None:
    item = sale()
    item.contents[1].hs_code = None
    item.contents[1].value = None
    item.total_value = gbp("20.50")
    errors = check(item)
    assert codes(errors) == [
        ("contents[2].hs_code", ItemCode.REQUIRED_MISSING),
        ("contents[2].value", ItemCode.REQUIRED_MISSING),
    ]
    assert errors[0].message == "contents[2].hs_code is required (SALE_OF_GOODS)"


def test_blank_text_counts_as_missing() -> None:
    item = sale()
    item.sender.name = "  "
    item.addressee.address.lines = ["", " "]
    item.contents[0].hs_code = " . "
    item.origin_country = ""
    assert codes(check(item)) == [
        ("origin_country", ItemCode.REQUIRED_MISSING),
        ("sender.name", ItemCode.REQUIRED_MISSING),
        ("addressee.address", ItemCode.REQUIRED_MISSING),
        ("contents[1].hs_code", ItemCode.REQUIRED_MISSING),
    ]


def test_no_contents_and_no_item_id() -> None:
    item = sale()
    item.item_id = " "
    item.contents = []
    item.total_value = None
    assert codes(check(item)) == [
        ("item_id", ItemCode.REQUIRED_MISSING),
        ("contents", ItemCode.REQUIRED_MISSING),
        ("total_value", ItemCode.REQUIRED_MISSING),
    ]


def test_a_list_is_filled_by_any_element_not_only_its_first() -> None:
    item = sale()
    item.addressee.address.lines = [" ", "12 Main St"]
    assert check(item) == []


def test_every_line_missing_a_field_is_named_in_table_order() -> None:
    item = sale()
    item.contents[0].origin_country = None
    item.contents[1].hs_code = " "
    item.contents[1].origin_country = None
    item.total_value = None
    assert codes(check(item)) == [
        ("total_value", ItemCode.REQUIRED_MISSING),
        ("contents[2].hs_code", ItemCode.REQUIRED_MISSING),
        ("contents[1].origin_country", ItemCode.REQUIRED_MISSING),
        ("contents[2].origin_country", ItemCode.REQUIRED_MISSING),
    ]


def test_address_city_alone_or_lines_alone_is_enough() -> None:
    item = sale()  # sender has a city and no lines, addressee lines and no city
    assert item.sender.address.lines == [] and item.addressee.address.city is None
    assert check(item) == []


def test_all_errors_of_an_item_are_returned() -> None:
    item = sale()
    item.item_id = "RR123456784GB"
    item.destination_country = "XX"
    item.total_value = Money(Decimal("30.50"), "EURO")
    item.contents[0].hs_code = "12"
    item.sender.name = None
    assert codes(check(item)) == [
        ("item_id", ItemCode.S10_CHECK_DIGIT),
        ("destination_country", ItemCode.COUNTRY_UNKNOWN),
        ("total_value.currency", ItemCode.CURRENCY_UNKNOWN),
        ("contents[1].hs_code", ItemCode.HS_CODE_INVALID),
        ("sender.name", ItemCode.REQUIRED_MISSING),
    ]


def test_required_table() -> None:
    assert set(REQUIRED) == set(Category)
    assert "total_value" not in REQUIRED[Category.DOCUMENTS]
    table = required_table_markdown().splitlines()
    assert table[0] == (
        "| field | GIFT | DOCUMENTS | COMMERCIAL_SAMPLE | RETURNED_GOODS | SALE_OF_GOODS | OTHER |"
    )
    assert "| `item_id` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |" in table
    assert "| `total_value` | ✓ |  | ✓ | ✓ | ✓ | ✓ |" in table
    assert "| `contents[].hs_code` |  |  | ✓ |  | ✓ |  |" in table
    assert "| `category_explanation` |  |  |  |  |  | ✓ |" in table


# quality flags


def test_value_mismatch_beyond_one_cent() -> None:
    item = sale()
    item.total_value = gbp("30.51")  # lines add up to 30.50: exactly one cent off
    check(item)
    assert item.quality_flags == []

    item = sale()
    item.total_value = gbp("30.52")
    assert check(item) == []
    assert item.quality_flags == [Flag.VALUE_MISMATCH]


def test_value_mismatch_needs_every_line_in_the_total_currency() -> None:
    item = sale()
    item.total_value = gbp("99.00")
    item.contents[1].value = Money(Decimal("10.00"), "EUR")
    check(item)
    assert item.quality_flags == []


def test_weight_mismatch() -> None:
    item = sale()
    item.gross_weight_kg = Decimal("0.500")  # lines weigh 0.500 kg: not more than gross
    check(item)
    assert item.quality_flags == []

    item = sale()
    item.gross_weight_kg = Decimal("0.499")
    assert check(item) == []
    assert item.quality_flags == [Flag.WEIGHT_MISMATCH]


@pytest.mark.parametrize(
    ("description", "vague"),
    [("Gifts", True), (" SAMPLE ", True), ("clothes", True), ("Gift box", False)],
)
def test_vague_description(description: str, vague: bool) -> None:
    item = sale()
    item.contents[1].description = description
    assert check(item) == []
    assert item.quality_flags == ([Flag.VAGUE_DESCRIPTION] if vague else [])


def test_flags_appear_once_in_catalogue_order() -> None:
    item = sale()
    item.quality_flags = [Flag.PHONE_INVALID.value]  # already set by an earlier check
    item.sender.phone = "12"
    item.contents[0].description = "goods"
    item.contents[1].description = "parts"
    item.contents[1].hs_code = "611710001234"
    item.gross_weight_kg = Decimal("0.100")
    item.total_value = gbp("1.00")
    check(item)
    assert item.quality_flags == [
        "vague_description",
        "value_mismatch",
        "weight_mismatch",
        "hs_truncated",
        "phone_invalid",
    ]
    assert all(type(flag) is str for flag in item.quality_flags)
