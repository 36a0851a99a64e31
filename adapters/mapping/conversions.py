"""Conversions of raw values into canonical ones, each made once per field at load time.

A conversion is a closure over the field's parameters (decimal comma, unit, currency
path, code list...), called with the raw value, its source path and the scope it was read
in: no parameter lookups per value. A ConversionError is reported at the value's path;
an :class:`Unreadable` names its own (a unit, a currency, a quantity).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapters import convert
from adapters.convert import ConversionError
from adapters.mapping.paths import Path, Unreadable
from gateway.canonical import Money

if TYPE_CHECKING:
    from adapters.mapping.fields import Scope

Convert = Callable[[Any, str, "Scope"], Any]
Patterns = dict[str, list[tuple[str, re.Pattern[str]]]]


def make(
    conversion: str,
    name: str,
    params: dict[str, Any],
    table: dict[str, Any] | None,
    patterns: Patterns,
    summed: bool,
) -> Convert | None:
    """The conversion of one field; None for plain text (strip, "" -> None), which the
    table does inline as the commonest case by far."""
    comma = params.get("decimal_comma", False)
    times = _times(params.get("times"), comma)
    if conversion == "text":
        return _text(params) if params else None
    if conversion == "hs":
        return lambda raw, path, scope: convert.hs_code(convert.text(raw))
    if conversion == "phone":
        return _phone(params.get("country_path"))
    if conversion == "code":
        assert table is not None
        return _code(table, params.get("codes") or name, params.get("remove"))
    if conversion == "match":
        return _match(patterns[params["patterns"]], params.get("remove"))
    if conversion == "decimal":
        return lambda raw, path, scope: times(convert.decimal(raw, comma=comma), scope)
    if conversion == "integer":
        return lambda raw, path, scope: convert.integer(raw)
    if conversion == "weight":
        return _weight(params.get("unit_path"), params.get("unit", "kg"), comma, times)
    if conversion == "money":
        return _money(name, params, comma, times, summed)
    if conversion == "datetime":
        zone = params.get("zone")
        return lambda raw, path, scope: convert.timestamp(convert.text(raw), zone)
    return lambda raw, path, scope: raw  # address lines: read as a list of texts already


def param(scope: Scope, path: Path) -> tuple[str | None, str | None]:
    """A parameter read from the document (``*_path``, ``times``) and where it was."""
    raw, where = path.first(scope.ctx)
    if raw is None:
        return None, None
    if scope.hits is not None:
        scope.hits.add((path.key, path.text))
    return convert.text(raw), where


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


def _text(params: dict[str, Any]) -> Convert:
    clean = _cleaner(params.get("remove"))
    only_non_latin = params.get("only_non_latin", False)

    def text(raw: Any, path: str, scope: Scope) -> str | None:
        value = clean(raw)
        if value is not None and only_non_latin and not _is_non_latin(value):
            return None
        return value

    return text


def _phone(country_path: Path | None) -> Convert:
    def phone(raw: Any, path: str, scope: Scope) -> str | None:
        """E.164 when the number can be read; otherwise as sent, for the rules to flag."""
        if country_path is None:
            country = scope.values.get("address.country")
        else:
            country = param(scope, country_path)[0]
        value = convert.text(raw)
        try:
            return convert.phone_e164(value, country)
        except ConversionError:
            return value

    return phone


def _code(table: dict[str, Any], list_name: str, remove: str | None) -> Convert:
    clean = _cleaner(remove)
    return lambda raw, path, scope: convert.code(clean(raw), table, list_name)


def _match(patterns: list[tuple[str, re.Pattern[str]]], remove: str | None) -> Convert:
    clean = _cleaner(remove)
    shapes = ", ".join(result for result, _ in patterns)

    def match(raw: Any, path: str, scope: Scope) -> str | None:
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


Times = Callable[[Decimal | None, "Scope"], Decimal | None]


def _times(quantity_path: Path | None, comma: bool) -> Times:
    """A line total from a per-unit value: ``times`` names the quantity."""
    if quantity_path is None:
        return lambda value, scope: value

    def times(value: Decimal | None, scope: Scope) -> Decimal | None:
        if value is None:
            return None
        raw, path = param(scope, quantity_path)
        try:
            quantity = convert.decimal(raw, comma=comma)
        except ConversionError as exc:
            raise Unreadable(exc, path or scope.ctx.path) from None
        return convert.line_total(value, quantity)

    return times


def _weight(unit_path: Path | None, unit: str, comma: bool, times: Times) -> Convert:
    def weight(raw: Any, path: str, scope: Scope) -> Decimal | None:
        number = convert.decimal(raw, comma=comma)
        found, where = (unit, None) if unit_path is None else param(scope, unit_path)
        try:
            kg = convert.weight_kg(number, found)
        except ConversionError as exc:
            raise Unreadable(exc, where or path) from None
        return times(kg, scope)

    return weight


def _money(name: str, params: dict[str, Any], comma: bool, times: Times, summed: bool) -> Convert:
    currency_path: Path | None = params.get("currency_path")
    fixed = params.get("currency")
    minor_units = params.get("minor_units", False)

    def money(raw: Any, path: str, scope: Scope) -> Money | None:
        currency, where = (fixed, None) if currency_path is None else param(scope, currency_path)
        if where:
            scope.paths[f"{scope.prefix}{name}.currency"] = where
            if summed:
                _same_currency(currency_path, currency, scope)  # type: ignore[arg-type]
        if currency is None:
            raise ConversionError("an amount without a currency", raw)
        if minor_units:
            amount = convert.minor_units(raw, currency)
        else:
            amount = convert.decimal(raw, comma=comma)
        amount = times(amount, scope)
        return None if amount is None else Money(amount, currency)

    return money


def _same_currency(currency_path: Path, currency: str, scope: Scope) -> None:
    """A sum is only meaningful in one currency: the gateway converts none."""
    for other, other_path in scope.values_of((currency_path,)):
        if convert.text(other) != currency:
            error = ConversionError(f"currency {other!r} differs from {currency!r}", other)
            raise Unreadable(error, other_path)
