"""Conversions of raw values into canonical ones, each made once per field at load time.

A conversion is a plain function with the field's constants bound (decimal comma, unit
factor, code list, time zone...), called with the raw value and the raw values of the
field's document parameters (a unit, a currency, a country read beside the value), in
the order :func:`inputs` names them. Raw values arrive stripped and non-empty (or as
JSON numbers). A value that cannot be read raises ConversionError; a parameter that
cannot be read raises :class:`InputError` naming it, so that the error points at the
parameter's path, not the value's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from adapters import convert
from adapters.convert import ConversionError
from gateway.canonical import Money, currency_scale

Converter = Callable[..., Any]
Patterns = dict[str, list[tuple[str, re.Pattern[str]]]]

DOCUMENT_PARAMS: dict[str, str] = {
    "unit_path": "unit",
    "currency_path": "currency",
    "country_path": "country",
    "zone_path": "zone",
}
"""Parameters read from the document beside the value, and the input each one feeds."""


class InputError(ConversionError):
    """A document parameter of a conversion (``part``: unit, currency...) is unreadable."""

    def __init__(self, part: str, error: ConversionError) -> None:
        super().__init__(error.message, error.value)
        self.part = part


def inputs(params: dict[str, Any]) -> tuple[str, ...]:
    """The document parameters a conversion takes after the raw value, in call order."""
    return tuple(name for name in DOCUMENT_PARAMS if name in params)


def make(
    conversion: str,
    name: str,
    params: dict[str, Any],
    table: dict[str, Any] | None,
    patterns: Patterns,
) -> Converter | None:
    """The conversion of one field; None for plain text, which the reader does inline as
    the commonest case by far. ``table``: the field's code list, or for an enum field its
    canonical values (what a ``match`` result must name)."""
    comma = params.get("decimal_comma", False)
    if conversion in ("text", "lines"):  # address lines: a list of texts already
        return _text(params) if params else None
    if conversion == "hs":
        return convert.hs_code
    if conversion == "phone":
        return _phone
    if conversion == "code":
        assert table is not None
        return _code(table, params.get("codes") or name, _cleaner(params))
    if conversion == "match":
        return _match(patterns[params["patterns"]], table, _cleaner(params))
    if conversion == "country":
        clean = _cleaner(params)
        return lambda raw: convert.country(clean(raw))
    if conversion == "decimal":
        return _reader(comma)
    if conversion == "integer":
        return convert.integer
    if conversion == "weight":
        return _weight(params.get("unit", "kg"), "unit_path" in params, comma)
    if conversion == "money":
        return _money(params, comma)
    if conversion == "datetime":
        return _datetime(params.get("zone"), "zone_path" in params, params.get("layout"))
    raise AssertionError(f"no conversion {conversion!r}")


def quantity(comma: bool) -> Converter:
    """The multiplier of ``times``, as a number."""
    return _reader(comma)


def _reader(comma: bool) -> Callable[[Any], Decimal | None]:
    """:func:`convert.decimal` with the field's separator bound: called as it is, for
    every value, without a wrapper or a keyword to pass."""
    return convert.decimal_comma if comma else convert.decimal_point


def times(value: Any, factor: Decimal | None, raw: Any) -> Any:
    """A line total from a per-unit value (a number or money) and its quantity; a value
    without a quantity is an error, not a guess."""
    if value is None:
        return None
    if factor is None:
        error = ConversionError(f"{raw!r} is per unit and has no quantity to multiply by", raw)
        raise InputError("times", error)
    if isinstance(value, Money):
        return Money(value.amount * factor, value.currency)
    return value * factor


def finish(value: Any, computed: bool) -> Any:
    """The one rounding: computed money (a product) half-even to its currency's scale.
    Weights keep every digit; they are rounded to grams when written."""
    if not computed or not isinstance(value, Money):
        return value
    try:
        scale = currency_scale(value.currency)
    except (ValueError, LookupError):  # not a currency: the rules say so
        return value
    exponent = Decimal(1).scaleb(-scale)
    return Money(value.amount.quantize(exponent, rounding=ROUND_HALF_EVEN), value.currency)


def total(values: list[Any]) -> Any:
    """The sum of converted values (numbers, or money in one currency: the gateway
    converts none, so another currency is an error); None for none."""
    if not values:
        return None
    if isinstance(values[0], Money):
        currency = values[0].currency
        for money in values:
            if money.currency != currency:
                message = f"currency {money.currency!r} differs from {currency!r}"
                raise ConversionError(message, money.currency)
        return Money(sum((m.amount for m in values), Decimal(0)), currency)
    return sum(values, Decimal(0))


def weigh(parts: tuple[tuple[Any, Any, Decimal], ...], convert: Converter) -> Decimal | None:
    """A weight given in parts ((raw value, its path, kg per unit) each): their sum in kg;
    a missing part counts nothing, none present is no weight."""
    found = [convert(raw) * factor for raw, _, factor in parts if raw is not None]
    return sum(found, Decimal(0)) if found else None


def sum_of(
    rows: list[Any],
    convert: Converter,
    quantity: Converter | None,
    extra: list[Any],
    currencies: list[Any] | None,
) -> Any:
    """Every present value converted and added (rows: raw values; with ``quantity``,
    (value, quantity) pairs, added as value x quantity). Money is added in one currency:
    the first of ``currencies``, which must all be the same (no exchange rates here)."""
    args = list(extra)
    if currencies is not None:
        currency = currencies[0] if currencies else None
        for other in currencies:
            if other != currency:
                raise ConversionError(f"currency {other!r} differs from {currency!r}", other)
        args.append(currency)
    values = []
    for row in rows:
        raw, count = row if quantity is not None else (row, None)
        if raw is None:
            continue
        value = convert(raw, *args)
        if quantity is not None:
            value = times(value, quantity(count) if count is not None else None, raw)
        values.append(value)
    return finish(total(values), quantity is not None)


def _cleaner(params: dict[str, Any]) -> Callable[[Any], str | None]:
    """Text with the characters of ``remove`` taken out ("111.444.777-35"), then the
    ``slice`` kept ([0, 1]: the first character), stripped; nothing left is no value."""
    remove, cut = params.get("remove"), params.get("slice")
    if not remove and cut is None:
        return convert.text
    table = {ord(c): None for c in remove or ""}
    part = slice(*cut) if cut is not None else slice(None)

    def clean(raw: Any) -> str | None:
        value = convert.text(raw)
        return None if value is None else convert.text(value.translate(table)[part])

    return clean


def _is_non_latin(value: str) -> bool:
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in value)


def _text(params: dict[str, Any]) -> Converter:
    clean = _cleaner(params)
    only_non_latin = params.get("only_non_latin", False)

    def text(raw: Any) -> str | None:
        value = clean(raw)
        if value is not None and only_non_latin and not _is_non_latin(value):
            return None
        return value

    return text


def _phone(raw: Any, country: Any = None) -> str | None:
    """E.164 when the number can be read; otherwise as sent, for the rules to flag. The
    country is the ``country_path`` value, else the party's address.country."""
    value = convert.text(raw)
    try:
        return convert.phone_e164(value, convert.text(country))
    except ConversionError:
        return value


def _code(table: dict[str, Any], list_name: str, clean: Callable[[Any], str | None]) -> Converter:
    if clean is not convert.text:
        return lambda raw: convert.code(clean(raw), table, list_name)

    def code(raw: Any) -> Any:
        found = table.get(raw) if type(raw) is str else None
        return found if found is not None else convert.code(clean(raw), table, list_name)

    return code


def _match(
    patterns: list[tuple[str, re.Pattern[str]]],
    canonical: dict[str, Any] | None,
    clean: Callable[[Any], str | None],
) -> Converter:
    shapes = ", ".join(result for result, _ in patterns)
    results = [(canonical[r] if canonical else r, pattern) for r, pattern in patterns]

    def match(raw: Any) -> Any:
        """The first pattern the value matches names the result (for an enum field, its
        canonical value): a shape, so a value matching none is unreadable (value_invalid),
        not an unknown code."""
        value = clean(raw)
        if value is None:
            return None
        for result, pattern in results:
            if pattern.fullmatch(value):
                return result
        raise ConversionError(f"{raw!r} has none of the shapes {shapes}", raw)

    return match


def _weight(unit: str, from_document: bool, comma: bool) -> Converter:
    read = _reader(comma)
    if not from_document:
        factor = convert.kg_per(unit)
        if factor == 1:
            return read
        return lambda raw: read(raw) * factor

    def weight(raw: Any, unit: Any) -> Decimal | None:
        number = read(raw)
        # the usual case, a unit as the table spells it ("kg"), without stripping it
        factor = _KG_PER_UNIT.get(unit) if unit.__class__ is str else None
        if factor is None:
            try:
                factor = convert.kg_per(convert.text(unit) or "kg")
            except ConversionError as exc:
                raise InputError("unit", exc) from None
        return number * factor  # type: ignore[operator]

    return weight


_KG_PER_UNIT = {unit: convert.kg_per(unit) for unit in ("kg", "g", "lb", "oz")}


def _money(params: dict[str, Any], comma: bool) -> Converter:
    fixed = params.get("currency")
    minor_units = params.get("minor_units", False)

    read = _reader(comma)

    def amount(raw: Any, currency: str) -> Decimal:
        if minor_units:
            return convert.minor_units(raw, currency)  # type: ignore[return-value]
        return read(raw)  # type: ignore[return-value]

    if params.get("currency_in_value") or "symbols" in params:
        symbols = params.get("symbols") or {}

        def money_with_mark(raw: Any) -> Money:
            if raw.__class__ is not str:
                raise ConversionError(f"{raw!r} is an amount without its currency", raw)
            value, currency = convert.amount_with_currency(raw, comma=comma, symbols=symbols)
            return Money(value, currency)

        return money_with_mark

    if "currency_path" not in params:

        def money_in(raw: Any) -> Money:
            return Money(amount(raw, fixed), fixed)

        return money_in

    def money(raw: Any, currency: Any) -> Money:
        code = currency if currency.__class__ is str else convert.text(currency)
        if code is None:
            raise ConversionError("an amount without a currency", raw)
        if minor_units:
            return Money(convert.minor_units(raw, code), code)  # type: ignore[arg-type]
        return Money(read(raw), code)  # type: ignore[arg-type]

    return money


def _datetime(zone: str | None, from_document: bool, layout: str | None) -> Converter:
    if not from_document:
        if zone is None and layout is None:
            return convert.timestamp  # ISO 8601 with its offset: no wrapper to call
        return lambda raw: convert.timestamp(raw, zone, layout)

    def local_time(raw: Any, zone_name: Any) -> Any:
        name = convert.text(zone_name)
        if name is not None:
            try:
                convert.zone(name)
            except ConversionError as exc:
                raise InputError("zone", exc) from None
        return convert.timestamp(raw, name, layout)

    return local_time
