"""Property-based tests over the mapping engine (issue 11, "Nothing silently wrong"): a
sum with ``times`` is the sum of the products, rounded once; every conversion reads back
a canonical value written in its source form; input a conversion cannot read is
``value_invalid``, never an exception and never a guess."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import orjson
import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import convert
from adapters.mapping import Mapping
from gateway.canonical import CanonicalItem, Money
from gateway.codes import ItemCode
from gateway.contract import ItemError
from gateway.document import parse

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MAPPING = """
    operator = "test"
    format = "test-json"
    version = "1"
    kind = "json"
    detect = { has = ["/parcels"] }
    message_ref = { path = "/ref" }
    items = { path = "/parcels" }
    codes.service = { C = "PARCEL", E = "EMS", L = "LETTER" }

    [item]
    item_id = "id"
    total_value = { sum = "lines/*/price", times = "lines/*/qty", currency = "USD" }
    gross_weight_kg = { sum = "lines/*/grams", times = "lines/*/qty", unit = "g" }
    postal_charges = { path = "amount", symbols = { "$" = "USD" }, decimal_comma = COMMA }
    posted_at = { path = "local", layout = "%d.%m.%Y %H:%M:%S", zone_path = "tz" }
    destination_country = { path = "country", convert = "country" }
    mail_class = { path = "id", slice = [0, 1], codes = "service" }

    [contents]
    path = "lines"
    quantity = { path = "qty", decimal_comma = COMMA }
    net_weight_kg = { path = "weight", unit_path = "unit", decimal_comma = COMMA }
    value = { path = "minor", currency_path = "currency", minor_units = true }
    hs_code = "hs"
"""


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Mapping]:
    """The mapping with a decimal point (False) and with a decimal comma (True)."""
    out = {}
    for comma in (False, True):
        folder = tmp_path_factory.mktemp(f"comma-{comma}")
        text = textwrap.dedent(MAPPING).replace("COMMA", "true" if comma else "false")
        (folder / "m.toml").write_text(text, encoding="utf-8")
        out[comma] = Mapping.load(str(folder / "m.toml"))
    return out


def read(engine: Mapping, parcel: dict) -> CanonicalItem | ItemError:
    raw = orjson.dumps({"ref": "M", "parcels": [{"id": "CP1", **parcel}]})
    (out,) = engine.translate(parse(raw, "application/json"))
    return out


def plain(number: Decimal, comma: bool) -> str:
    text = format(number, "f")
    return text.replace(".", ",") if comma else text


# --- sums of products -----------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=10_000, places=4, allow_nan=False)
quantities = st.integers(min_value=1, max_value=60)


@PROPERTIES
@given(st.lists(st.tuples(prices, quantities, st.integers(0, 5000)), min_size=1, max_size=8))
def test_a_sum_with_times_is_the_sum_of_products_rounded_once(
    engines: dict[bool, Mapping], lines: list[tuple[Decimal, int, int]]
) -> None:
    parcel = {"lines": [{"price": str(p), "qty": q, "grams": g} for p, q, g in lines]}
    item = read(engines[False], parcel)
    assert isinstance(item, CanonicalItem)
    exact = sum((p * q for p, q, _ in lines), Decimal(0))
    once = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert item.total_value == Money(once, "USD")
    assert item.gross_weight_kg == sum((Decimal(g) * q for _, q, g in lines), Decimal(0)) / 1000


# --- every conversion reads back what it wrote -----------------------------------------------

numbers = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False)


@PROPERTIES
@given(numbers, st.booleans(), st.sampled_from(["kg", "g", "lb", "oz"]))
def test_decimals_and_weights_read_back(
    engines: dict[bool, Mapping], number: Decimal, comma: bool, unit: str
) -> None:
    parcel = {
        "lines": [{"qty": plain(number, comma), "weight": plain(number, comma), "unit": unit}]
    }
    item = read(engines[comma], parcel)
    assert isinstance(item, CanonicalItem)
    line = item.contents[0]
    assert line.quantity == number
    assert line.net_weight_kg / convert.kg_per(unit) == number  # type: ignore[operator]


currencies = st.sampled_from(["EUR", "GBP", "USD", "JPY", "KWD", "CHF"])


@PROPERTIES
@given(currencies, st.integers(min_value=0, max_value=10**12))
def test_minor_units_read_back(engines: dict[bool, Mapping], currency: str, minor: int) -> None:
    item = read(engines[False], {"lines": [{"minor": minor, "currency": currency}]})
    assert isinstance(item, CanonicalItem)
    value = item.contents[0].value
    assert value is not None and value.currency == currency
    assert value.amount.scaleb(convert.get_currency_precision(currency)) == minor


@PROPERTIES
@given(
    st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False),
    st.sampled_from(["{a} EUR", "EUR {a}", "€{a}", "€ {a}", "{a} €", "£{a}", "${a}", "{a} USD"]),
    st.booleans(),
)
def test_amounts_with_their_currency_read_back(
    engines: dict[bool, Mapping], amount: Decimal, form: str, comma: bool
) -> None:
    written = form.format(a=plain(amount, comma))
    item = read(engines[comma], {"amount": written})
    assert isinstance(item, CanonicalItem), written
    named = {"€": "EUR", "£": "GBP", "$": "USD"}
    currency = next((c for s, c in named.items() if s in form), form.replace("{a}", "").strip())
    assert item.postal_charges == Money(amount, currency)


zones = st.sampled_from(
    ["America/New_York", "Europe/Helsinki", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
)


@PROPERTIES
@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)),
    zones,
)
def test_local_times_read_back_or_are_refused_in_a_clock_change(
    engines: dict[bool, Mapping], moment: datetime, zone: str
) -> None:
    utc = moment.replace(microsecond=0, tzinfo=UTC)
    local = utc.astimezone(convert.zone(zone))
    item = read(engines[False], {"local": local.strftime("%d.%m.%Y %H:%M:%S"), "tz": zone})
    naive = local.replace(tzinfo=None)
    ambiguous = (
        naive.replace(tzinfo=convert.zone(zone)).utcoffset()
        != naive.replace(tzinfo=convert.zone(zone), fold=1).utcoffset()
    )
    if ambiguous:
        assert isinstance(item, ItemError) and item.code is ItemCode.VALUE_INVALID
    else:
        assert isinstance(item, CanonicalItem) and item.posted_at == utc


def test_every_country_name_and_code_reads_back(engines: dict[bool, Mapping]) -> None:
    """Every ISO 3166-1 country by every name and code pycountry has, in any case; the
    one official name that is also a name of another country ("Congo") is refused."""
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "common_name", "official_name"):
            written = getattr(country, attribute, None)
            if not written:
                continue
            for case in (str, str.upper, str.lower):
                item = read(engines[False], {"country": case(written)})
                if written == "Congo":
                    assert isinstance(item, ItemError) and "ambiguous" in item.message
                    continue
                assert isinstance(item, CanonicalItem), written
                assert item.destination_country == country.alpha_2


@pytest.mark.parametrize("name", ["Congo", "korea", "Virgin Islands", " the Congo "])
def test_a_name_of_several_countries_is_refused(engines: dict[bool, Mapping], name: str) -> None:
    item = read(engines[False], {"country": name})
    assert isinstance(item, ItemError) and item.code is ItemCode.VALUE_INVALID
    assert "ambiguous" in item.message


@PROPERTIES
@given(st.text(alphabet="0123456789", min_size=6, max_size=12), st.sampled_from([".", " ", "-"]))
def test_hs_codes_read_back(engines: dict[bool, Mapping], digits: str, separator: str) -> None:
    dotted = separator.join(digits[i : i + 2] for i in range(0, len(digits), 2))
    item = read(engines[False], {"lines": [{"hs": dotted}]})
    assert isinstance(item, CanonicalItem) and item.contents[0].hs_code == digits


# --- what cannot be read is value_invalid ------------------------------------------------------

_DECIMAL = {
    False: re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)"),
    True: re.compile(r"[+-]?(\d+(,\d*)?|,\d+)"),
}


@PROPERTIES
@given(st.text(max_size=12), st.booleans())
def test_a_number_that_is_none_is_value_invalid(
    engines: dict[bool, Mapping], text: str, comma: bool
) -> None:
    item = read(engines[comma], {"lines": [{"qty": text}]})
    cleaned = text.strip()
    if not cleaned:
        assert isinstance(item, CanonicalItem) and item.contents[0].quantity is None
    elif _DECIMAL[comma].fullmatch(cleaned) and cleaned.isascii():
        assert isinstance(item, CanonicalItem)
        assert item.contents[0].quantity == Decimal(cleaned.replace(",", "."))
    else:
        assert isinstance(item, ItemError), repr(text)
        assert (item.code, item.path) == (ItemCode.VALUE_INVALID, "/parcels/0/lines/0/qty")


@PROPERTIES
@given(st.text(max_size=16), st.sampled_from(["amount", "local", "country", "weight"]))
def test_any_text_anywhere_is_read_or_refused_never_a_crash(
    engines: dict[bool, Mapping], text: str, field: str
) -> None:
    parcel = {field: text, "tz": "UTC"} if field != "weight" else {"lines": [{"weight": text}]}
    item = read(engines[False], parcel)
    if isinstance(item, ItemError):
        assert item.code is ItemCode.VALUE_INVALID
        assert item.path.startswith("/parcels/0/")


def test_a_time_a_day_before_reads_a_day_before(engines: dict[bool, Mapping]) -> None:
    """The layout is read as written (day first here), not guessed."""
    item = read(engines[False], {"local": "02.03.2026 10:00:00", "tz": "UTC"})
    assert isinstance(item, CanonicalItem)
    assert item.posted_at == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert item.posted_at - timedelta(days=1) == datetime(2026, 3, 1, 10, tzinfo=UTC)
