"""The conversion helpers shared by mapping files and Python adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters import convert
from adapters.convert import ConversionError, UnknownCode


def test_text_strips_and_empty_is_none() -> None:
    assert convert.text("  José Muñoz \n") == "José Muñoz"
    assert convert.text("   ") is None
    assert convert.text("") is None
    assert convert.text(None) is None
    assert convert.text(62704) == "62704"


@pytest.mark.parametrize(
    ("raw", "comma", "expected"),
    [
        ("25.50", False, Decimal("25.50")),
        (" 0.550 ", False, Decimal("0.550")),
        ("3", False, Decimal("3")),
        (".5", False, Decimal("0.5")),
        ("25,50", True, Decimal("25.50")),
        ("0,550", True, Decimal("0.550")),
        ("-1,5", True, Decimal("-1.5")),
        (7, False, Decimal(7)),
        (Decimal("1.25"), True, Decimal("1.25")),
        ("", False, None),
        (None, True, None),
    ],
)
def test_decimal(raw: object, comma: bool, expected: Decimal | None) -> None:
    assert convert.decimal(raw, comma=comma) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "comma"),
    [
        ("25,50", False),
        ("25.50", True),
        ("1.234,5", True),
        ("1,234.5", False),
        ("R$ 40,00", True),
        ("2 kg", False),
        ("1e3", False),
        ("abc", False),
        ("NaN", False),
        (True, False),
    ],
)
def test_decimal_refuses(raw: object, comma: bool) -> None:
    with pytest.raises(ConversionError) as caught:
        convert.decimal(raw, comma=comma)  # type: ignore[arg-type]
    assert caught.value.value == raw


def test_integer() -> None:
    assert convert.integer("2") == 2
    assert convert.integer(Decimal("3.0")) == 3
    assert convert.integer(None) is None
    with pytest.raises(ConversionError):
        convert.integer("2.5")


def test_minor_units_follow_the_currency() -> None:
    assert convert.minor_units(3050, "CNY") == Decimal("30.50")
    assert convert.minor_units("1999", "USD") == Decimal("19.99")
    assert convert.minor_units(3050, "JPY") == Decimal("3050")
    assert convert.minor_units(5, "KWD") == Decimal("0.005")
    assert convert.minor_units(None, "CNY") is None
    with pytest.raises(ConversionError):
        convert.minor_units("30.50", "CNY")


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("230", "g", Decimal("0.230")),
        ("1.25", "kg", Decimal("1.25")),
        ("1.25", "KG", Decimal("1.25")),
        (850, "g", Decimal("0.850")),
        ("1", "lb", Decimal("0.45359237")),
        ("0.2", None, Decimal("0.2")),
    ],
)
def test_weight_kg(value: object, unit: str | None, expected: Decimal) -> None:
    assert convert.weight_kg(value, unit) == expected  # type: ignore[arg-type]


def test_weight_kg_comma_and_bad_unit() -> None:
    assert convert.weight_kg("0,550", "kg", comma=True) == Decimal("0.550")
    with pytest.raises(ConversionError, match="stone"):
        convert.weight_kg("1", "stone")


def test_line_total() -> None:
    assert convert.line_total(Decimal("45.00"), Decimal(2)) == Decimal("90.00")
    assert convert.line_total(None, Decimal(2)) is None
    assert convert.line_total(Decimal("0.150"), None) is None


def test_code_list_lookup_and_unknown_code_lists_the_allowed() -> None:
    table = {"U": "LETTER", "C": "PARCEL"}
    assert convert.code("C", table, "mail_class") == "PARCEL"
    assert convert.code(None, table, "mail_class") is None
    with pytest.raises(UnknownCode) as caught:
        convert.code("X", table, "mail_class")
    assert "'X'" in caught.value.message
    assert "mail_class" in caught.value.message
    assert "U, C" in caught.value.message
    assert isinstance(caught.value, ConversionError)


@pytest.mark.parametrize(
    ("raw", "zone", "expected"),
    [
        ("2026-11-28T09:15:00+01:00", None, datetime(2026, 11, 28, 8, 15, tzinfo=UTC)),
        ("2026-11-28T17:02:11+08:00", None, datetime(2026, 11, 28, 9, 2, 11, tzinfo=UTC)),
        ("2026-11-28T09:15:00Z", None, datetime(2026, 11, 28, 9, 15, tzinfo=UTC)),
        ("2026-11-28T09:15:00-03:00", None, datetime(2026, 11, 28, 12, 15, tzinfo=UTC)),
        ("2026-11-28T10:00:00", "Europe/Istanbul", datetime(2026, 11, 28, 7, 0, tzinfo=UTC)),
        (" ", None, None),
    ],
)
def test_timestamp(raw: str, zone: str | None, expected: datetime | None) -> None:
    assert convert.timestamp(raw, zone) == expected


def test_timestamp_refuses_no_offset_and_garbage() -> None:
    with pytest.raises(ConversionError, match="offset"):
        convert.timestamp("2026-11-28T10:00:00")
    with pytest.raises(ConversionError, match="ISO 8601"):
        convert.timestamp("28/11/2026 10:00")


def test_phone_e164_with_the_party_country() -> None:
    assert convert.phone_e164("(11) 98765-4321", "BR") == "+5511987654321"
    assert convert.phone_e164("+44 20 7946 0958", None) == "+442079460958"
    assert convert.phone_e164("0232 464 10 20", "tr") == "+902324641020"
    assert convert.phone_e164(None, "GB") is None
    with pytest.raises(ConversionError):
        convert.phone_e164("12", "GB")
    with pytest.raises(ConversionError):
        convert.phone_e164("020 7946 0958", None)


def test_hs_code_cleanup() -> None:
    assert convert.hs_code("6109.10.00") == "61091000"
    assert convert.hs_code(" 6302 60 ") == "630260"
    assert convert.hs_code("8210-00") == "821000"
    assert convert.hs_code("") is None
