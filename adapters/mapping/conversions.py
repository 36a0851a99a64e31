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
    the commonest case by far."""
    comma = params.get("decimal_comma", False)
    if conversion in ("text", "lines"):  # address lines: a list of texts already
        return _text(params) if params else None
    if conversion == "hs":
        return convert.hs_code
    if conversion == "phone":
        return _phone
    if conversion == "code":
        assert table is not None
        return _code(table, params.get("codes") or name, params.get("remove"))
    if conversion == "match":
        return _match(patterns[params["patterns"]], params.get("remove"))
    if conversion == "decimal":
        return lambda raw: convert.decimal(raw, comma=comma)
    if conversion == "integer":
        return convert.integer
    if conversion == "weight":
        return _weight(params.get("unit", "kg"), "unit_path" in params, comma)
    if conversion == "money":
        return _money(params, comma)
    if conversion == "datetime":
        zone = params.get("zone")
        return lambda raw: convert.timestamp(raw, zone)
    raise AssertionError(f"no conversion {conversion!r}")


def quantity(comma: bool) -> Converter:
    """The multiplier of ``times``, as a number."""
    return lambda raw: convert.decimal(raw, comma=comma)


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
    """The sum of converted values (numbers, or money in one currency); None for none."""
    if not values:
        return None
    if isinstance(values[0], Money):
        amount = sum((m.amount for m in values), Decimal(0))
        return Money(amount, values[0].currency)
    return sum(values, Decimal(0))


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


def _cleaner(remove: str | None) -> Callable[[Any], str | None]:
    """Text with the characters of ``remove`` taken out ("111.444.777-35")."""
    if not remove:
        return convert.text
    table = {ord(c): None for c in remove}

    def clean(raw: Any) -> str | None:
        value = convert.text(raw)
        return None if value is None else convert.text(value.translate(table))

    return clean


def _is_non_latin(value: str) -> bool:
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in value)


def _text(params: dict[str, Any]) -> Converter:
    clean = _cleaner(params.get("remove"))
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


def _code(table: dict[str, Any], list_name: str, remove: str | None) -> Converter:
    clean = _cleaner(remove)
    if remove:
        return lambda raw: convert.code(clean(raw), table, list_name)

    def code(raw: Any) -> Any:
        found = table.get(raw) if type(raw) is str else None
        return found if found is not None else convert.code(clean(raw), table, list_name)

    return code


def _match(patterns: list[tuple[str, re.Pattern[str]]], remove: str | None) -> Converter:
    clean = _cleaner(remove)
    shapes = ", ".join(result for result, _ in patterns)

    def match(raw: Any) -> str | None:
        """The name of the first pattern the value matches: a shape, so a value matching
        none is unreadable (value_invalid), not an unknown code."""
        value = clean(raw)
        if value is None:
            return None
        for result, pattern in patterns:
            if pattern.fullmatch(value):
                return result
        raise ConversionError(f"{raw!r} has none of the shapes {shapes}", raw)

    return match


def _weight(unit: str, from_document: bool, comma: bool) -> Converter:
    if not from_document:
        factor = convert.kg_per(unit)
        if factor == 1:
            return lambda raw: convert.decimal(raw, comma=comma)
        return lambda raw: convert.decimal(raw, comma=comma) * factor

    def weight(raw: Any, unit: Any) -> Decimal | None:
        number = convert.decimal(raw, comma=comma)
        try:
            return number * convert.kg_per(convert.text(unit) or "kg")
        except ConversionError as exc:
            raise InputError("unit", exc) from None

    return weight


def _money(params: dict[str, Any], comma: bool) -> Converter:
    fixed = params.get("currency")
    minor_units = params.get("minor_units", False)

    def amount(raw: Any, currency: str) -> Decimal:
        if minor_units:
            return convert.minor_units(raw, currency)  # type: ignore[return-value]
        return convert.decimal(raw, comma=comma)  # type: ignore[return-value]

    if "currency_path" not in params:

        def money_in(raw: Any) -> Money:
            if fixed is None:
                raise ConversionError("an amount without a currency", raw)
            return Money(amount(raw, fixed), fixed)

        return money_in

    def money(raw: Any, currency: Any) -> Money:
        code = currency if currency.__class__ is str else convert.text(currency)
        if code is None:
            raise ConversionError("an amount without a currency", raw)
        return Money(amount(raw, code), code)

    return money
