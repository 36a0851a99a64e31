"""Pure conversions from operator values to canonical ones, shared by mappings and Python adapters.

Each helper either returns the canonical value or raises :class:`ConversionError` naming the
value it could not read, so that the caller can turn it into a per-item error with a source
path. ``None`` in means ``None`` out: a missing value is the canonical rules' business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from zoneinfo import ZoneInfo

import phonenumbers
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
    if value.__class__ is str:
        other = "." if comma else ","  # the separator this value must not use
        text = value.replace(",", ".", 1) if comma else value
        try:  # Decimal reads more than we accept (exponents, NaN, "_", other digits)
            number = Decimal(text)
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


def timestamp(value: str | None, default_zone: str | None = None) -> datetime | None:
    """An ISO 8601 date-time as an aware UTC datetime. A value without an offset is refused
    unless ``default_zone`` (an IANA zone such as "Europe/Istanbul") says where it is."""
    cleaned = text(value)
    if cleaned is None:
        return None
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ConversionError(f"{value!r} is not an ISO 8601 date-time", value) from None
    if parsed.tzinfo is None:
        if default_zone is None:
            raise ConversionError(f"{value!r} has no UTC offset", value)
        parsed = parsed.replace(tzinfo=ZoneInfo(default_zone))
    return parsed.astimezone(UTC)


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
