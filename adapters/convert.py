"""Pure conversions from operator values to canonical ones, shared by mappings and Python adapters.

Each helper either returns the canonical value or raises :class:`ConversionError` naming the
value it could not read, so that the caller can turn it into a per-item error with a source
path. ``None`` in means ``None`` out: a missing value is the canonical rules' business.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib.resources import files
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import pycountry
from babel.numbers import get_currency_precision

Raw = str | int | Decimal
T = TypeVar("T")


class ConversionError(ValueError):
    """A value the gateway cannot read; ``value`` is what the operator sent."""

    def __init__(self, message: str, value: object) -> None:
        super().__init__(message)
        self.message = message
        self.value = value


class UnknownCode(ConversionError):
    """A code that is not in the operator's code list (item error ``code_unknown``)."""


def text(value: object) -> str | None:
    """Strip surrounding white space; an empty string is no value at all."""
    if value is None:
        return None
    cleaned = str(value).strip()
    return cleaned or None


def decimal(value: Raw | None, *, comma: bool = False) -> Decimal | None:
    """A decimal number; ``comma=True`` reads "25,50" (and refuses "25.50", which would be
    ambiguous with a thousands separator). No thousands separators, no exponents."""
    return decimal_comma(value) if comma else decimal_point(value)


def decimal_point(value: Raw | None) -> Decimal | None:
    """:func:`decimal` with a decimal point. A mapping binds this or :func:`decimal_comma`
    once and calls it for every value, with no separator to choose or keyword to pass
    (a number or two on every content line)."""
    if value.__class__ is str:
        try:  # Decimal reads more than we accept (exponents, NaN, "_", other digits), never ","
            number = Decimal(value)  # type: ignore[arg-type]
        except InvalidOperation:
            return _not_decimal(value, "a decimal point")  # type: ignore[arg-type]
        if (
            number.is_finite()
            and value.isascii()  # type: ignore[union-attr]
            and not ("e" in value or "E" in value or "_" in value)  # type: ignore[operator]
        ):
            return number
        return _not_decimal(value, "a decimal point")  # type: ignore[arg-type]
    return _number(value)


def decimal_comma(value: Raw | None) -> Decimal | None:
    """:func:`decimal` with a decimal comma: "25,50", and "25.50" refused."""
    if value.__class__ is str:
        text = value.replace(",", ".", 1)  # type: ignore[union-attr]
        try:
            number = Decimal(text)
        except InvalidOperation:
            return _not_decimal(value, "a decimal comma")  # type: ignore[arg-type]
        if (
            number.is_finite()
            and text.isascii()
            and not ("e" in text or "E" in text or "_" in text)
            and "." not in value  # type: ignore[operator]
        ):
            return number
        return _not_decimal(value, "a decimal comma")  # type: ignore[arg-type]
    return _number(value)


def _not_decimal(value: str, separator: str) -> None:
    """A text that is no decimal number: none when blank, else refused."""
    if not value.strip():
        return None
    raise ConversionError(f"{value!r} is not a decimal number with {separator}", value)


def _number(value: Raw | None) -> Decimal | None:
    """A value that is not text (a JSON number) as a decimal."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ConversionError(f"{value!r} is not a number", value)
    if isinstance(value, int):
        return Decimal(value)
    raise ConversionError(f"{value!r} is not a number", value)


def integer(value: Raw | None) -> int | None:
    """A whole number ("2", 2, or a Decimal with no fraction)."""
    if value.__class__ is str and value.isdigit() and value.isascii():
        return int(value)
    number = decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ConversionError(f"{value!r} is not a whole number", value)
    return int(number)


def minor_units(amount: Raw | None, currency: str) -> Decimal | None:
    """An amount in the currency's minor units: 3050 CNY -> 30.50, 3050 JPY -> 3050."""
    units = integer(amount)
    if units is None:
        return None
    return Decimal(units).scaleb(-get_currency_precision(currency))


_KG_PER_UNIT: dict[str, Decimal] = {
    "kg": Decimal(1),
    "g": Decimal("0.001"),
    "lb": Decimal("0.45359237"),
    "oz": Decimal("0.028349523125"),
}


def kg_per(unit: str) -> Decimal:
    """Kilograms in one ``unit`` (kg, g, lb or oz, any case)."""
    factor = _KG_PER_UNIT.get(unit) or _KG_PER_UNIT.get(unit.strip().lower())
    if factor is None:
        allowed = ", ".join(_KG_PER_UNIT)
        raise ConversionError(f"weight unit {unit!r} is not one of {allowed}", unit)
    return factor


def weight_kg(value: Raw | None, unit: str | None = "kg", *, comma: bool = False) -> Decimal | None:
    """A weight in kg from a value in ``unit`` (kg, g, lb or oz, any case): 230 g -> 0.230."""
    number = decimal(value, comma=comma)
    if number is None:
        return None
    return number * kg_per(unit or "kg")


def line_total(unit_value: Decimal | None, quantity: Decimal | None) -> Decimal | None:
    """A line total from a per-unit value (or weight) and the quantity."""
    if unit_value is None or quantity is None:
        return None
    return unit_value * quantity


def code(value: str | None, table: Mapping[str, T], table_name: str) -> T | None:
    """Look a code up in an operator's code list; an unknown code lists the allowed ones."""
    if value is None:
        return None
    try:
        return table[value]
    except KeyError:
        allowed = ", ".join(table)
        raise UnknownCode(
            f"{value!r} is not in code list {table_name!r} (allowed: {allowed})", value
        ) from None


def timestamp(
    value: str | None, default_zone: str | None = None, layout: str | None = None
) -> datetime | None:
    """A date-time as an aware UTC datetime: ISO 8601, or as ``layout`` says (strptime
    directives: "%m/%d/%Y %H:%M"). A value without an offset is read in ``default_zone``
    (an IANA name such as "Europe/Istanbul"), and refused without one, or when it falls in
    a clock change there (an hour that happens twice or never)."""
    parsed = None
    if layout is None and value.__class__ is str:
        try:  # the usual case: ISO 8601 as sent, which it never is with spaces around it
            parsed = datetime.fromisoformat(value)  # type: ignore[arg-type]
        except ValueError:  # blank, padded or not ISO: read below, as any other value
            parsed = None
    if parsed is None:
        cleaned = text(value)
        if cleaned is None:
            return None
        try:
            parsed = (
                datetime.strptime(cleaned, layout) if layout else datetime.fromisoformat(cleaned)
            )
        except ValueError:
            shape = f"the layout {layout!r}" if layout else "ISO 8601"
            raise ConversionError(f"{value!r} is not a date-time in {shape}", value) from None
    if parsed.tzinfo is None:
        if default_zone is None:
            raise ConversionError(f"{value!r} has no UTC offset", value)
        local = parsed.replace(tzinfo=zone(default_zone))
        if local.utcoffset() != local.replace(fold=1).utcoffset():
            raise ConversionError(
                f"{value!r} falls in a clock change in {default_zone} (twice or never)",
                value,
            )
        parsed = local
    return parsed.astimezone(UTC)


@cache
def zone(name: str) -> ZoneInfo:
    """An IANA time zone ("America/New_York"); anything else is a ConversionError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConversionError(f"{name!r} is not an IANA time zone", name) from None


_SYMBOLS = {"€": "EUR", "£": "GBP"}
"""Currency symbols that name one currency; $, ¥, kr and the like name several."""
_AMOUNT = re.compile(r"([^\d\s+\-.,]+)?\s*([+-]?[\d.,]+)\s*([^\d\s+\-.,]+)?")


def amount_with_currency(
    value: str, *, comma: bool = False, symbols: Mapping[str, str] | None = None
) -> tuple[Decimal, str]:
    """An amount written with its currency: an ISO 4217 code or a symbol, before or after
    it ("45.00 EUR", "$18.50", "€ 9,90"). € and £ name their currency; any other symbol
    only as ``symbols`` declares it. The decimal separator is the one declared."""
    match = _AMOUNT.fullmatch(value.strip())
    if match is None or (match[1] and match[3]):
        raise ConversionError(f"{value!r} is not an amount with its currency", value)
    mark = match[1] or match[3]
    if mark is None:
        raise ConversionError(f"{value!r} has no currency", value)
    if len(mark) == 3 and mark.isascii() and mark.isalpha() and mark.isupper():
        currency = mark
    elif symbols and mark in symbols:
        currency = symbols[mark]
    elif mark in _SYMBOLS:
        currency = _SYMBOLS[mark]
    else:
        raise ConversionError(
            f"{mark!r} in {value!r} names no one currency: the mapping must declare it "
            f'(symbols = {{ "{mark}" = "<ISO 4217 code>" }})',
            value,
        )
    amount = decimal(match[2], comma=comma)
    assert amount is not None
    return amount, currency


def symbol_currency(symbol: str) -> str | None:
    """The currency a symbol names on its own (€, £), or None."""
    return _SYMBOLS.get(symbol)


def _folded(name: str) -> str:
    """A country name as compared: no case, accents or repeated spaces, no leading "the"."""
    plain = unicodedata.normalize("NFKD", name.replace("\u2019", "'"))
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    words = plain.casefold().split()
    if words[:1] == ["the"]:
        words = words[1:]
    return " ".join(words)


@cache
def _country_names() -> tuple[dict[str, str], dict[str, str]]:
    """Every name and code of every country (pycountry and adapters/countries.toml), and
    the names of several countries with what they could mean."""
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            known = getattr(country, attribute, None)
            if known:
                names[_folded(known)] = country.alpha_2
    table = tomllib.loads(files("adapters").joinpath("countries.toml").read_text("utf-8"))
    names.update({_folded(k): v for k, v in table["aliases"].items()})
    ambiguous = {_folded(k): v for k, v in table["ambiguous"].items()}
    return names, ambiguous


def country(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code from a country's name or code ("United Kingdom", "GBR",
    "Russia" -> "GB", "GB", "RU"); a name of several countries ("Congo") is refused."""
    cleaned = text(value)
    if cleaned is None:
        return None
    names, ambiguous = _country_names()
    folded = _folded(cleaned)
    if folded in ambiguous:
        raise ConversionError(f"{value!r} is ambiguous: {ambiguous[folded]}", value)
    code = names.get(folded)
    if code is None:
        raise ConversionError(f"{value!r} is not a country name or code we know", value)
    return code


def phone_e164(value: str | None, country: str | None) -> str | None:
    """A phone number in E.164 form; a national number is read in ``country`` (ISO alpha-2)."""
    cleaned = text(value)
    if cleaned is None:
        return None
    try:
        number = phonenumbers.parse(cleaned, (country or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise ConversionError(f"{value!r} is not a phone number: {exc}", value) from None
    if not phonenumbers.is_valid_number(number):
        where = f" in {country}" if country else ""
        raise ConversionError(f"{value!r} is not a valid phone number{where}", value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_HS_SEPARATORS = re.compile(r"[\s.\-]")


def hs_code(value: str | None) -> str | None:
    """An HS code without dots, spaces or dashes ("6109.10.00" -> "61091000"); its shape
    is checked by the canonical rules, which know the 6-10 digit limits."""
    cleaned = text(value)
    if cleaned is None:
        return None
    dotted = cleaned.replace(".", "")
    return dotted if dotted.isdigit() else _HS_SEPARATORS.sub("", cleaned)
