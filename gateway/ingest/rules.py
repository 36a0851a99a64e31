"""The canonical rules of DOMAIN.md, applied to every item whatever its operator.

Adapters only convert; the rules here decide. :func:`check` normalises an item in place
(ids, ISO codes, HS codes, phones, defaults), adds its quality flags and returns every
error that rejects it, each naming the canonical field so that the gateway can point
into the operator's document through ``CanonicalItem.path_of``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Context, Decimal
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry

from gateway.canonical import (
    CanonicalItem,
    Category,
    ContentLine,
    ItemIdScheme,
    Money,
    Party,
    currency_scale,
)
from gateway.codes import Flag, ItemCode
from gateway.s10 import parse_s10

BILATERAL_ID = re.compile(r"[A-Z0-9][A-Z0-9._/-]{0,34}")
"""A bilaterally agreed item id: up to 35 characters (EDIFACT an..35), no spaces."""

EACH_LINE = "contents[]."
"""Prefix in the required table for a field every content line must have."""

_BASE = (
    "item_id",
    "mail_class",
    "category",
    "origin_country",
    "destination_country",
    "gross_weight_kg",
    "sender.name",
    "sender.address.country",
    "sender.address.lines or sender.address.city",
    "addressee.name",
    "addressee.address.country",
    "addressee.address.lines or addressee.address.city",
    "contents",
    f"{EACH_LINE}description",
)
_VALUED = (*_BASE, "total_value")
_COMMERCIAL = (*_VALUED, f"{EACH_LINE}hs_code", f"{EACH_LINE}origin_country", f"{EACH_LINE}value")

REQUIRED: dict[Category, tuple[str, ...]] = {
    Category.GIFT: _VALUED,
    Category.DOCUMENTS: _BASE,
    Category.COMMERCIAL_SAMPLE: _COMMERCIAL,
    Category.RETURNED_GOODS: _VALUED,
    Category.SALE_OF_GOODS: _COMMERCIAL,
    Category.OTHER: (*_VALUED, "category_explanation"),
}
"""Which canonical fields each category requires: the one table, shown in the README."""

VAGUE_DESCRIPTIONS = frozenset(
    {
        "gift",
        "gifts",
        "parts",
        "samples",
        "sample",
        "accessories",
        "goods",
        "items",
        "merchandise",
        "stuff",
        "various",
        "clothes",
        "products",
    }
)
"""Descriptions that alone tell customs nothing (after the EU's list of vague terms)."""

VALUE_TOLERANCE = Decimal("0.01")

_COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)
_CURRENCIES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
_HS_SEPARATORS = re.compile(r"[.\s-]")
_HS_DIGITS = re.compile(r"[0-9]{6,}")
_FLAG_ORDER = {flag.value: rank for rank, flag in enumerate(Flag)}


@dataclass(frozen=True, slots=True)
class RuleError:
    """A rule an item breaks; ``field`` is the canonical field (``contents[2].hs_code``)."""

    field: str
    code: ItemCode
    message: str


def check(item: CanonicalItem, *, allow_bilateral: bool = False) -> list[RuleError]:
    """Normalise ``item`` in place, add its quality flags, and return the errors that
    reject it (an empty list means accepted)."""
    flags: list[Flag] = []
    errors = [
        *_check_item_id(item, allow_bilateral),
        *_check_countries(item),
        *_check_money(item),
        *_check_quantities(item),
        *_check_hs_codes(item, flags),
        *_check_required(item),
    ]
    for party in (item.sender, item.addressee):
        flags += _normalise_phone(party)
    if item.pieces is None:
        item.pieces = 1
    flags += _consistency_flags(item)
    merged = dict.fromkeys(str(flag) for flag in (*item.quality_flags, *flags))
    item.quality_flags = sorted(merged, key=lambda flag: _FLAG_ORDER.get(flag, len(_FLAG_ORDER)))
    return errors


def required_table_markdown() -> str:
    """The required-fields table as the Markdown matrix the README shows
    (``python -m gateway.ingest.rules`` prints it)."""
    rows = list(dict.fromkeys(name for names in REQUIRED.values() for name in names))
    lines = [
        "| field | " + " | ".join(category.value for category in REQUIRED) + " |",
        "|---|" + "---|" * len(REQUIRED),
    ]
    for row in rows:
        marks = ("✓" if row in names else "" for names in REQUIRED.values())
        lines.append(f"| `{row}` | " + " | ".join(marks) + " |")
    lines.append("")
    lines.append(f"`{EACH_LINE}x`: every content line needs `x`; `a or b`: at least one of them.")
    return "\n".join(lines)


def _lines(item: CanonicalItem) -> Iterator[tuple[str, ContentLine]]:
    """Each content line with its canonical field prefix (1-based: ``contents[2].``)."""
    for number, line in enumerate(item.contents, 1):
        yield f"contents[{number}].", line


def _code(text: str | None) -> str | None:
    """An ISO code as compared: stripped, upper case, blank meaning absent."""
    return (text.strip().upper() or None) if text is not None else None


def _check_item_id(item: CanonicalItem, allow_bilateral: bool) -> list[RuleError]:
    item.item_id = item.item_id.strip().upper()
    item_id = item.item_id
    if not item_id:
        return []  # reported by the required table
    parsed = parse_s10(item_id)
    if parsed is None:
        if not allow_bilateral:
            item.item_id_scheme = None
            message = f"item id {item_id!r} is not an S10 identifier (AA123456789CC)"
            return [RuleError("item_id", ItemCode.S10_INVALID, message)]
        item.item_id_scheme = ItemIdScheme.BILATERAL
        if BILATERAL_ID.fullmatch(item_id):
            return []
        message = f"bilateral item id {item_id!r} is not 1-35 of A-Z 0-9 . _ / -"
        return [RuleError("item_id", ItemCode.VALUE_INVALID, message)]
    item.item_id_scheme = ItemIdScheme.S10
    errors = []
    if parsed.check_digit != parsed.expected_check_digit:
        message = f"check digit is {parsed.check_digit}, expected {parsed.expected_check_digit}"
        errors.append(RuleError("item_id", ItemCode.S10_CHECK_DIGIT, message))
    if parsed.country not in _COUNTRIES:
        message = f"issuing country {parsed.country!r} of the S10 id is not ISO 3166-1 alpha-2"
        errors.append(RuleError("item_id", ItemCode.COUNTRY_UNKNOWN, message))
    return errors


def _country_holders(item: CanonicalItem) -> Iterator[tuple[Any, str, str]]:
    """(object, attribute, canonical field) of every country code of the item."""
    yield item, "origin_country", "origin_country"
    yield item, "destination_country", "destination_country"
    yield item.sender.address, "country", "sender.address.country"
    yield item.addressee.address, "country", "addressee.address.country"
    for prefix, line in _lines(item):
        yield line, "origin_country", f"{prefix}origin_country"


def _check_countries(item: CanonicalItem) -> Iterator[RuleError]:
    for holder, attribute, name in _country_holders(item):
        code = _code(getattr(holder, attribute))
        setattr(holder, attribute, code)
        if code is not None and code not in _COUNTRIES:
            message = f"{code!r} is not an ISO 3166-1 alpha-2 country code"
            yield RuleError(name, ItemCode.COUNTRY_UNKNOWN, message)


def _moneys(item: CanonicalItem) -> Iterator[tuple[str, Money | None]]:
    yield "total_value", item.total_value
    yield "postal_charges", item.postal_charges
    for prefix, line in _lines(item):
        yield f"{prefix}value", line.value


def _check_money(item: CanonicalItem) -> Iterator[RuleError]:
    for name, money in _moneys(item):
        if money is None:
            continue
        money.currency = _code(money.currency) or ""
        if money.currency not in _CURRENCIES:
            message = f"{money.currency!r} is not an ISO 4217 currency code"
            yield RuleError(f"{name}.currency", ItemCode.CURRENCY_UNKNOWN, message)
        elif _negative_or_not_finite(money.amount):
            message = f"amount {money.amount} is not a number >= 0"
            yield RuleError(f"{name}.amount", ItemCode.VALUE_INVALID, message)
        elif _decimal_places(money.amount) > (scale := currency_scale(money.currency)):
            message = f"amount {money.amount} has more than {scale} decimals for {money.currency}"
            yield RuleError(f"{name}.amount", ItemCode.VALUE_INVALID, message)


def _check_quantities(item: CanonicalItem) -> Iterator[RuleError]:
    """Weights and quantities cannot be negative; an item has at least one piece."""
    numbers: list[tuple[str, Decimal | None]] = [("gross_weight_kg", item.gross_weight_kg)]
    for prefix, line in _lines(item):
        numbers += [(f"{prefix}net_weight_kg", line.net_weight_kg)]
        numbers += [(f"{prefix}quantity", line.quantity)]
    for name, number in numbers:
        if number is not None and _negative_or_not_finite(number):
            yield RuleError(name, ItemCode.VALUE_INVALID, f"{number} is not a number >= 0")
    if item.pieces is not None and item.pieces < 1:
        yield RuleError("pieces", ItemCode.VALUE_INVALID, f"{item.pieces} pieces: at least 1")


def _check_hs_codes(item: CanonicalItem, flags: list[Flag]) -> Iterator[RuleError]:
    """Digits only, 6 to 10 of them; a longer national code is cut to 10 and flagged."""
    for prefix, line in _lines(item):
        if line.hs_code is None:
            continue
        digits = _HS_SEPARATORS.sub("", line.hs_code)
        if not digits:
            line.hs_code = None  # blank means absent; the required table decides
        elif not _HS_DIGITS.fullmatch(digits):
            message = f"HS code {line.hs_code!r} is not 6 to 10 digits"
            yield RuleError(f"{prefix}hs_code", ItemCode.HS_CODE_INVALID, message)
        else:
            if len(digits) > 10:
                flags.append(Flag.HS_TRUNCATED)
            line.hs_code = digits[:10]


def _check_required(item: CanonicalItem) -> Iterator[RuleError]:
    required = REQUIRED[item.category] if item.category is not None else _BASE
    scope = f" ({item.category.value})" if item.category is not None else ""
    for requirement in required:
        for name, alternatives in _unmet(item, requirement):
            message = f"{' or '.join(alternatives)} is required{scope}"
            yield RuleError(name, ItemCode.REQUIRED_MISSING, message)


def _unmet(item: CanonicalItem, requirement: str) -> Iterator[tuple[str, list[str]]]:
    """(field to report, alternatives named) for each place ``requirement`` is not met."""
    names = [name.removeprefix(EACH_LINE) for name in requirement.split(" or ")]
    places: Iterator[tuple[str, Any]] = (
        _lines(item) if requirement.startswith(EACH_LINE) else iter([("", item)])
    )
    for prefix, holder in places:
        if any(_filled(_resolve(holder, name)) for name in names):
            continue
        named = [prefix + name for name in names]
        # Alternatives are siblings (address.lines or address.city): report their parent.
        yield (named[0] if len(named) == 1 else named[0].rpartition(".")[0]), named


def _resolve(holder: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        holder = getattr(holder, part, None)
    return holder


def _filled(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return any(_filled(element) for element in value)
    return value is not None


def _normalise_phone(party: Party) -> list[Flag]:
    """E.164 with the party's country as the region of a national number; else kept."""
    if party.phone is None or not party.phone.strip():
        party.phone = None
        return []
    region = party.address.country if party.address.country in _COUNTRIES else None
    e164 = _e164(party.phone, region)
    if e164 is None:
        return [Flag.PHONE_INVALID]
    party.phone = e164
    return []


@lru_cache(maxsize=65_536)
def _e164(phone: str, region: str | None) -> str | None:
    """phonenumbers costs ~0.2 ms a number; a shipper's own number repeats on every parcel
    it sends, so a bounded cache pays for itself on real traffic."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _consistency_flags(item: CanonicalItem) -> list[Flag]:
    """Quality flags: the declaration is accepted, but customs should know."""
    lines = item.contents
    raised = {
        Flag.VAGUE_DESCRIPTION: any(
            (line.description or "").strip().casefold() in VAGUE_DESCRIPTIONS for line in lines
        ),
        Flag.VALUE_MISMATCH: _values_disagree(item.total_value, [line.value for line in lines]),
        Flag.WEIGHT_MISMATCH: _overweight(item.gross_weight_kg, [ln.net_weight_kg for ln in lines]),
    }
    return [flag for flag, up in raised.items() if up]


def _overweight(gross: Decimal | None, nets: list[Decimal | None]) -> bool:
    """Line net weights add up to more than the gross weight (a missing one counts 0)."""
    weights = [weight for weight in nets if weight is not None]
    if gross is None or not weights or not all(w.is_finite() for w in (gross, *weights)):
        return False
    return sum(weights, Decimal(0)) > gross


def _values_disagree(total: Money | None, values: list[Money | None]) -> bool:
    """Line values add up to more than a cent away from the total; only comparable when
    every line has a value in the total's currency (no exchange rates here)."""
    if total is None or not values or not total.amount.is_finite():
        return False
    amounts = [v.amount for v in values if v is not None and v.currency == total.currency]
    if len(amounts) < len(values) or not all(amount.is_finite() for amount in amounts):
        return False
    return abs(sum(amounts, Decimal(0)) - total.amount) > VALUE_TOLERANCE


def _negative_or_not_finite(number: Decimal) -> bool:
    return not number.is_finite() or number < 0


def _decimal_places(amount: Decimal) -> int:
    """Decimals the amount needs: 30.500 needs 1 (a context as wide as the number keeps
    ``normalize`` from rounding)."""
    exact = amount.normalize(Context(prec=max(1, len(amount.as_tuple().digits))))
    return max(0, -int(exact.as_tuple().exponent))


if __name__ == "__main__":
    print(required_table_markdown())
