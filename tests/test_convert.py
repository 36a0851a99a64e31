"""The conversion helpers shared by mapping files and Python adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- the bound readers against the code they replaced -------------------------------------
# decimal_point / decimal_comma and timestamp's ISO fast path are there for speed (they run
# for every number and time of every item); these are the slower versions they replaced,
# kept as the reference: the same value (digits and exponent) or the same error, whatever
# the text.


def _decimal_before(value: object, comma: bool) -> Decimal | None:
    if value.__class__ is str:
        assert isinstance(value, str)
        other = "." if comma else ","
        text = value.replace(",", ".", 1) if comma else value
        try:
            number: Decimal | None = Decimal(text)
        except InvalidOperation:
            number = None
        if (
            number is not None
            and number.is_finite()
            and text.isascii()
            and not ("e" in text or "E" in text or "_" in text)
            and other not in value
        ):
            return number
        if not value.strip():
            return None
        separator = "a decimal comma" if comma else "a decimal point"
        raise ConversionError(f"{value!r} is not a decimal number with {separator}", value)
    return convert._number(value)  # type: ignore[arg-type]


def _timestamp_before(value: str | None, default_zone: str | None) -> datetime | None:
    cleaned = convert.text(value)
    if cleaned is None:
        return None
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ConversionError(f"{value!r} is not a date-time in ISO 8601", value) from None
    if parsed.tzinfo is None:
        if default_zone is None:
            raise ConversionError(f"{value!r} has no UTC offset", value)
        local = parsed.replace(tzinfo=convert.zone(default_zone))
        if local.utcoffset() != local.replace(fold=1).utcoffset():
            raise ConversionError(
                f"{value!r} falls in a clock change in {default_zone} (twice or never)", value
            )
        parsed = local
    return parsed.astimezone(UTC)


def _outcome(call: Callable[[], object]) -> tuple[str, object]:
    """What a call gives, comparable: a Decimal by its digits and exponent, a datetime
    with its zone, an error by its type, message and value."""
    try:
        value = call()
    except ConversionError as exc:
        return type(exc).__name__, (exc.message, exc.value)
    if isinstance(value, Decimal):
        return "Decimal", value.as_tuple()
    if isinstance(value, datetime):
        return "datetime", (value, value.tzinfo)
    return type(value).__name__, value


_NUMBER_TEXT = st.lists(
    st.sampled_from([*"0123456789.,+-eE_ \t\n", "\u00a0", "\u0663", "NaN", "Inf"]), max_size=12
).map("".join)


@settings(max_examples=2000, deadline=None)
@given(_NUMBER_TEXT | st.from_regex(r"[+-]?[0-9]{0,6}([.,][0-9]{0,4})?", fullmatch=True))
def test_decimal_readers_read_as_before(raw: str) -> None:
    for comma, read in ((False, convert.decimal_point), (True, convert.decimal_comma)):
        expected = _outcome(lambda: _decimal_before(raw, comma))  # noqa: B023
        assert _outcome(lambda: read(raw)) == expected  # noqa: B023
        assert _outcome(lambda: convert.decimal(raw, comma=comma)) == expected  # noqa: B023


@pytest.mark.parametrize("raw", [None, 7, True, Decimal("1.5"), 1.5, [1]])
def test_decimal_readers_read_values_that_are_not_text_as_before(raw: object) -> None:
    for comma, read in ((False, convert.decimal_point), (True, convert.decimal_comma)):
        assert _outcome(lambda: read(raw)) == _outcome(lambda: _decimal_before(raw, comma))  # noqa: B023


_TIME_TEXT = st.builds(
    lambda pad, body, end: pad + body + end,
    st.sampled_from(["", " ", "\t", "\u00a0", "\u3000"]),
    st.sampled_from(
        [
            "2026-11-28T09:15:00+01:00",
            "2026-11-28T09:15:00Z",
            "2026-11-28 09:15:00.5-03:30",
            "2026-11-28T09:15:00",
            "2026-03-29T02:30:00",
            "2026-11-28",
            "20261128T091500+0100",
            "2026-W48-5T10",
            "28/11/2026 10:00",
            "",
        ]
    ),
    st.sampled_from(["", " ", "\n", "\u2003"]),
) | st.text(alphabet=st.sampled_from(list("0123456789-:T+Z. W")), max_size=26)


@settings(max_examples=2000, deadline=None)
@given(_TIME_TEXT, st.sampled_from([None, "Europe/Berlin"]))
def test_timestamp_reads_as_before(raw: str, zone: str | None) -> None:
    assert _outcome(lambda: convert.timestamp(raw, zone)) == _outcome(
        lambda: _timestamp_before(raw, zone)
    )
