"""The canonical rules of DOMAIN.md, applied to every item whatever its operator.

Adapters only convert; the rules here decide. :func:`check` normalises an item in place
(ids, ISO codes, HS codes, phones, defaults), adds its quality flags and returns every
error that rejects it, each naming the canonical field so that the gateway can point
into the operator's document through ``CanonicalItem.path_of``.

They run on every item, so the required table is compiled once, at import, into one
function per category (:data:`REQUIRED_CHECKS`): each field read by its attribute chain,
no name resolved and no check called per item; an error's field name is built only for
an item that has the error. The other rules first test a value for the usual, clean case
with cheap operations (a code already in its ISO set, an amount already at its
currency's decimals) and normalise or describe only a value that fails that test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
_ZERO = Decimal(0)

_COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)
_CURRENCIES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
_UNITS = {currency: Decimal(1).scaleb(-currency_scale(currency)) for currency in _CURRENCIES}
"""1 of each currency's minor unit (0.01 for GBP, 1 for JPY): an amount of that exponent
has no decimal too many."""
_QUIET = Context(traps=[])
"""Quantizes an amount that does not fit to NaN (unequal to it) instead of raising."""
_HS_SEPARATORS = re.compile(r"[.\s-]")
_HS_DIGITS = re.compile(r"[0-9]{6,}")
_ATTRIBUTES = re.compile(r"[a-z_]+(\.[a-z_]+)*")
"""A row of the required table: an attribute chain, pasted into generated code."""
_FLAG_ORDER = {flag.value: rank for rank, flag in enumerate(Flag)}


def _flag_rank(flag: str) -> int:
    """Flags in catalogue order; one the catalogue does not know (older data) last."""
    return _FLAG_ORDER.get(flag, len(_FLAG_ORDER))


@dataclass(frozen=True, slots=True)
class RuleError:
    """A rule an item breaks; ``field`` is the canonical field (``contents[2].hs_code``)."""

    field: str
    code: ItemCode
    message: str


def check(item: CanonicalItem, *, allow_bilateral: bool = False) -> list[RuleError]:
    """Normalise ``item`` in place, add its quality flags, and return the errors that
    reject it (an empty list means accepted)."""
    errors: list[RuleError] = []
    lines = item.contents
    _check_item_id(item, allow_bilateral, errors)
    _check_countries(item, lines, errors)
    _check_money(item, lines, errors)
    _check_quantities(item, lines, errors)
    hs_truncated = _check_hs_codes(lines, errors) if lines else False
    REQUIRED_CHECKS[item.category](item, errors)
    phone_invalid = _normalise_phone(item.sender) | _normalise_phone(item.addressee)
    if item.pieces is None:
        item.pieces = 1
    flags = _consistency_flags(item, lines) if lines else []
    if hs_truncated:
        flags.append(Flag.HS_TRUNCATED)
    if phone_invalid:
        flags.append(Flag.PHONE_INVALID)
    if flags or item.quality_flags:
        merged = dict.fromkeys([*map(str, item.quality_flags), *map(str, flags)])
        item.quality_flags = sorted(merged, key=_flag_rank)
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


def _code(text: str | None) -> str | None:
    """An ISO code as compared: stripped, upper case, blank meaning absent."""
    return (text.strip().upper() or None) if text is not None else None


def _check_item_id(item: CanonicalItem, allow_bilateral: bool, errors: list[RuleError]) -> None:
    item.item_id = item_id = item.item_id.strip().upper()
    if not item_id:
        return  # reported by the required table
    parsed = parse_s10(item_id)
    if parsed is None:
        if not allow_bilateral:
            item.item_id_scheme = None
            message = f"item id {item_id!r} is not an S10 identifier (AA123456789CC)"
            errors.append(RuleError("item_id", ItemCode.S10_INVALID, message))
            return
        item.item_id_scheme = ItemIdScheme.BILATERAL
        if not BILATERAL_ID.fullmatch(item_id):
            message = f"bilateral item id {item_id!r} is not 1-35 of A-Z 0-9 . _ / -"
            errors.append(RuleError("item_id", ItemCode.VALUE_INVALID, message))
        return
    item.item_id_scheme = ItemIdScheme.S10
    expected = parsed.expected_check_digit
    if parsed.check_digit != expected:
        message = f"check digit is {parsed.check_digit}, expected {expected}"
        errors.append(RuleError("item_id", ItemCode.S10_CHECK_DIGIT, message))
    if parsed.country not in _COUNTRIES:
        message = f"issuing country {parsed.country!r} of the S10 id is not ISO 3166-1 alpha-2"
        errors.append(RuleError("item_id", ItemCode.COUNTRY_UNKNOWN, message))


def _country(code: str | None, errors: list[RuleError], name: str | int) -> str | None:
    """A country code normalised (the caller stores it); one that is not ISO 3166-1
    alpha-2 is an error. ``name`` is the field, or the content line's number. Callers
    come here only for a code not in the ISO set as sent (one in it is already normal)."""
    if code is None:
        return None
    code = code.strip().upper() or None
    if code is not None and code not in _COUNTRIES:
        field = name if name.__class__ is str else f"contents[{name}].origin_country"
        message = f"{code!r} is not an ISO 3166-1 alpha-2 country code"
        errors.append(RuleError(field, ItemCode.COUNTRY_UNKNOWN, message))  # type: ignore[arg-type]
    return code


def _check_countries(
    item: CanonicalItem, lines: list[ContentLine], errors: list[RuleError]
) -> None:
    """A code in the ISO set as sent is already normal; only another is normalised and
    judged (:func:`_country`)."""
    countries = _COUNTRIES
    if item.origin_country not in countries:
        item.origin_country = _country(item.origin_country, errors, "origin_country")
    if item.destination_country not in countries:
        item.destination_country = _country(item.destination_country, errors, "destination_country")
    address = item.sender.address
    if address.country not in countries:
        address.country = _country(address.country, errors, "sender.address.country")
    address = item.addressee.address
    if address.country not in countries:
        address.country = _country(address.country, errors, "addressee.address.country")
    for number, line in enumerate(lines, 1):
        if line.origin_country not in countries:
            line.origin_country = _country(line.origin_country, errors, number)


def _money(money: Money, errors: list[RuleError], name: str | int) -> None:
    """``name``: the field, or the content line's number (its value)."""
    money.currency = currency = _code(money.currency) or ""
    amount = money.amount
    if currency not in _CURRENCIES:
        part, code = "currency", ItemCode.CURRENCY_UNKNOWN
        message = f"{currency!r} is not an ISO 4217 currency code"
    elif not amount.is_finite() or amount < 0:
        part, code = "amount", ItemCode.VALUE_INVALID
        message = f"amount {amount} is not a number >= 0"
    elif -amount.as_tuple().exponent > (scale := currency_scale(currency)) and (  # type: ignore[operator]
        _decimal_places(amount) > scale
    ):
        part, code = "amount", ItemCode.VALUE_INVALID
        message = f"amount {amount} has more than {scale} decimals for {currency}"
    else:
        return
    field = name if name.__class__ is str else f"contents[{name}].value"
    errors.append(RuleError(f"{field}.{part}", code, message))


def _check_money(item: CanonicalItem, lines: list[ContentLine], errors: list[RuleError]) -> None:
    """A sum that is plainly good (:func:`_plain`) is left as it is; any other goes to
    :func:`_money`, which normalises and judges it."""
    if item.total_value is not None and not _plain(item.total_value):
        _money(item.total_value, errors, "total_value")
    if item.postal_charges is not None and not _plain(item.postal_charges):
        _money(item.postal_charges, errors, "postal_charges")
    for number, line in enumerate(lines, 1):
        if line.value is not None and not _plain(line.value):
            _money(line.value, errors, number)


def _plain(money: Money) -> bool:
    """An ISO currency as sent, a finite amount >= 0 and no decimal beyond the currency's
    (the usual case): tested with cheap Decimal operations (``as_tuple`` is not one)."""
    unit = _UNITS.get(money.currency)
    amount = money.amount
    return (
        unit is not None
        and amount.is_finite()
        and amount >= _ZERO
        and (amount.same_quantum(unit) or amount.quantize(unit, context=_QUIET) == amount)
    )


def _check_quantities(
    item: CanonicalItem, lines: list[ContentLine], errors: list[RuleError]
) -> None:
    """Weights and quantities cannot be negative; an item has at least one piece (a
    number is compared only when finite: a NaN cannot be)."""
    zero = _ZERO
    gross = item.gross_weight_kg
    if gross is not None and not (gross.is_finite() and gross >= zero):
        errors.append(_not_a_number("gross_weight_kg", gross))
    for number, line in enumerate(lines, 1):
        net, quantity = line.net_weight_kg, line.quantity
        if net is not None and not (net.is_finite() and net >= zero):
            errors.append(_not_a_number(f"contents[{number}].net_weight_kg", net))
        if quantity is not None and not (quantity.is_finite() and quantity >= zero):
            errors.append(_not_a_number(f"contents[{number}].quantity", quantity))
    if item.pieces is not None and item.pieces < 1:
        message = f"{item.pieces} pieces: at least 1"
        errors.append(RuleError("pieces", ItemCode.VALUE_INVALID, message))


def _not_a_number(name: str, value: Decimal) -> RuleError:
    return RuleError(name, ItemCode.VALUE_INVALID, f"{value} is not a number >= 0")


def _check_hs_codes(lines: list[ContentLine], errors: list[RuleError]) -> bool:
    """Digits only, 6 to 10 of them; a longer national code is cut to 10. Whether one
    was cut (a quality flag)."""
    truncated = False
    for number, line in enumerate(lines, 1):
        if line.hs_code is None:
            continue
        digits = line.hs_code
        if digits.isdigit() and digits.isascii():  # the usual case: no regex needed
            valid = len(digits) >= 6
        else:
            digits = _HS_SEPARATORS.sub("", digits)
            valid = _HS_DIGITS.fullmatch(digits) is not None
        if not digits:
            line.hs_code = None  # blank means absent; the required table decides
        elif not valid:
            message = f"HS code {line.hs_code!r} is not 6 to 10 digits"
            name = f"contents[{number}].hs_code"
            errors.append(RuleError(name, ItemCode.HS_CODE_INVALID, message))
        else:
            if len(digits) > 10:
                truncated = True
            line.hs_code = digits[:10]
    return truncated


Check = Callable[[CanonicalItem, list[RuleError]], None]
"""The required table of one category: appends a RuleError for each place it is not met."""


def _filled(value: Any) -> bool:
    if value.__class__ is str:
        return bool(value.strip())
    if value.__class__ is list:
        return any(_filled(element) for element in value)
    return value is not None


def _present(expression: str) -> str:
    """Python for "this attribute chain holds a value": text not blank, a list with one
    filled element (:func:`_filled`), anything else not None. An empty list, or one whose
    first element is plainly filled (text not blank, or neither text, list nor None), is
    decided inline: the usual cases, without a call."""
    return (
        f"(v.strip() if (v := {expression}).__class__ is str "
        "else v is not None and (v.__class__ is not list or v and ((e.strip() if (e := v[0])"
        ".__class__ is str else e is not None and e.__class__ is not list) or filled(v))))"
    )


def _compile_required(requirements: tuple[str, ...], category: Category | None) -> Check:
    """One category's rows of the required table as one generated function: a row is an
    attribute chain (or several, ``a or b``) tested where it stands, in table order, and
    each content line's rows in a loop of their own, so that errors come in table order.
    The parents the chains share (``item.sender.address``) are read once, into locals; a
    category with several rows per content line first tests them all in one loop, and
    runs the loops that name the missing fields only when a line misses one."""
    scope = f" ({category.value})" if category is not None else ""
    constants: dict[str, Any] = {"filled": _filled, "RuleError": RuleError,
                                 "MISSING": ItemCode.REQUIRED_MISSING}
    parents: dict[str, str] = {}  # an attribute chain -> the local that holds it

    def chain(owner: str, name: str) -> str:
        """``owner.name`` with each parent on the way read into a local once."""
        *steps, last = name.split(".")
        for depth in range(len(steps)):
            path = ".".join(steps[: depth + 1])
            if path not in parents:
                outer = parents[path.rpartition(".")[0]] if depth else owner
                parents[path] = f"{owner}_{path.replace('.', '_')}"
                prologue.append(f"{parents[path]} = {outer}.{steps[depth]}")
        return f"{parents['.'.join(steps)] if steps else owner}.{last}"

    prologue: list[str] = []
    body: list[str] = []
    line_tests: list[str] = []
    for number, requirement in enumerate(requirements):
        names = [name.removeprefix(EACH_LINE) for name in requirement.split(" or ")]
        assert all(_ATTRIBUTES.fullmatch(name) for name in names), requirement
        # Alternatives are siblings (address.lines or address.city): report their parent.
        field = names[0] if len(names) == 1 else names[0].rpartition(".")[0]
        if requirement.startswith(EACH_LINE):
            test = " or ".join(_present(f"line.{name}") for name in names)
            line_tests.append(f"({test})")
            shown = " or ".join(f"contents[{{n}}].{name}" for name in names)
            body += [
                "if not lines_ok:",
                "    for n, line in enumerate(lines, 1):",
                f"        if not ({test}):",
                f"            append(RuleError(f'contents[{{n}}].{field}', MISSING, "
                f"f'{shown} is required{scope}'))",
            ]
        else:
            constants[f"E{number}"] = RuleError(
                field, ItemCode.REQUIRED_MISSING, f"{' or '.join(names)} is required{scope}"
            )
            test = " or ".join(_present(chain("item", name)) for name in names)
            body += [f"if not ({test}):", f"    append(E{number})"]
    if len(line_tests) > 1:
        prologue += [
            "lines_ok = True",
            "for line in lines:",
            f"    if not ({' and '.join(line_tests)}):",
            "        lines_ok = False",
            "        break",
        ]
    else:
        prologue.append("lines_ok = False")
    source = "def required(item, errors):\n    append = errors.append\n    lines = item.contents\n"
    source += "".join(f"    {line}\n" for line in (*prologue, *body))
    # Generated from the REQUIRED table above (identifiers and fixed text), never input.
    exec(compile(source, f"<required {category and category.value}>", "exec"), constants)
    return constants["required"]


REQUIRED_CHECKS: dict[Category | None, Check] = {
    None: _compile_required(_BASE, None),
    **{category: _compile_required(names, category) for category, names in REQUIRED.items()},
}
"""The required table compiled: per category (None: no category), one check."""


def _normalise_phone(party: Party) -> bool:
    """E.164 with the party's country as the region of a national number; else kept.
    Whether the number is unreadable (a quality flag)."""
    phone = party.phone
    if phone is None:
        return False
    if not phone.strip():
        party.phone = None
        return False
    region = party.address.country if party.address.country in _COUNTRIES else None
    e164 = _e164(party.phone, region)
    if e164 is None:
        return True
    party.phone = e164
    return False


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


def _consistency_flags(item: CanonicalItem, lines: list[ContentLine]) -> list[Flag]:
    """Quality flags: the declaration is accepted, but customs should know. Only an item
    with content lines can raise any; the lines are read in one loop for all three.

    Line values are compared with the total only when every line has a finite value in
    the total's currency (no exchange rates here), and flagged when they add up to more
    than a cent away from it. Line net weights (a missing one counts 0) are compared
    when every stated one is finite, and flagged when they add up to more than the gross
    weight. The sums are taken after the loop, and only when every line qualifies: a
    sum of huge amounts can overflow, and an item that is not compared must not raise."""
    vague = False
    total, gross = item.total_value, item.gross_weight_kg
    amounts: list[Decimal] | None = None
    weights: list[Decimal] | None = None
    if total is not None and total.amount.is_finite():
        amounts, currency = [], total.currency
    if gross is not None and gross.is_finite():
        weights = []
    for line in lines:
        if not vague and (line.description or "").strip().casefold() in VAGUE_DESCRIPTIONS:
            vague = True
        if amounts is not None:
            value = line.value
            if value is None or value.currency != currency or not value.amount.is_finite():
                amounts = None
            else:
                amounts.append(value.amount)
        weight = line.net_weight_kg
        if weights is not None and weight is not None:
            if weight.is_finite():
                weights.append(weight)
            else:
                weights = None
    flags = [Flag.VAGUE_DESCRIPTION] if vague else []
    if (
        amounts is not None
        and total is not None
        and abs(sum(amounts, _ZERO) - total.amount) > VALUE_TOLERANCE
    ):
        flags.append(Flag.VALUE_MISMATCH)
    if weights and gross is not None and sum(weights, _ZERO) > gross:
        flags.append(Flag.WEIGHT_MISMATCH)
    return flags


def _decimal_places(amount: Decimal) -> int:
    """Decimals the amount needs: 30.500 needs 1 (a context as wide as the number keeps
    ``normalize`` from rounding)."""
    _, digits, exponent = amount.as_tuple()
    if exponent >= 0:  # type: ignore[operator]
        return 0
    if digits[-1] != 0:  # no trailing zero: every decimal counts
        return -exponent  # type: ignore[operator]
    exact = amount.normalize(Context(prec=max(1, len(digits))))
    return max(0, -int(exact.as_tuple().exponent))


if __name__ == "__main__":
    print(required_table_markdown())
