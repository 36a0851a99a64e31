"""The value guard: what a client sent that parses but that PostgreSQL or JSON cannot
hold, caught before it reaches the store (where it was a 500).

JSON escapes can carry a NUL (no PostgreSQL text or jsonb holds one) or a lone surrogate
(no UTF-8 form, so orjson refuses it); any format can carry a number too large for its
column (``revision`` is an ``integer``) or for a readable record. Such a value in an
item rejects that item alone (``value_invalid``, with its path); in the envelope (the
message reference) it refuses the message (422). Text that is only echoed back (an item
error's id or message) is escaped instead, so that the receipt can always be stored.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from gateway.canonical import CanonicalItem
from gateway.codes import ItemCode, MessageCode
from gateway.contract import ItemError, MessageRejected
from gateway.document import Document, Kind

INT_LOW, INT_HIGH = -(2**31), 2**31 - 1
"""An ``integer`` column: revisions; counts (pieces, line numbers) are held to it too."""
LARGEST_DIGIT, SMALLEST_DIGIT = 14, -30
"""Amounts and weights: below 10^15, and nothing below 10^-30 (``1E-999999`` would be
written out as a million zeros)."""

_UNHOLDABLE = re.compile("[\x00\ud800-\udfff]")
# A JSON escape that may decode to a NUL or a surrogate. Raw control characters are not
# JSON, and UTF-8 has no surrogates, so a document without such an escape holds neither.
_RISKY_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def unholdable(text: str) -> bool:
    """Whether ``text`` holds a NUL or a lone surrogate (a valid pair decodes to one
    code point, so any surrogate left in a Python str is a lone one)."""
    return _UNHOLDABLE.search(text) is not None


def printable(text: str) -> str:
    """``text`` with each NUL or lone surrogate written as its JSON escape."""
    if not unholdable(text):
        return text
    return _UNHOLDABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def printable_value(value: Any) -> Any:
    """A JSON-like value (an error's details) with every string made :func:`printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): printable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_value(v) for v in value]
    return value


def printable_error(error: ItemError) -> ItemError:
    """An item error whose id, path and message can be stored in a receipt."""
    texts = (error.item_id or "", error.path, error.message)
    if not any(unholdable(t) for t in texts):
        return error
    return ItemError(
        error.index,
        None if error.item_id is None else printable(error.item_id),
        printable(error.path),
        error.code,
        printable(error.message),
    )


def check_reference(ref: str) -> None:
    """A message reference with a NUL or a lone surrogate refuses the message (422)."""
    if unholdable(ref):
        raise MessageRejected(
            MessageCode.VALUE_INVALID,
            f"the message reference {printable(ref)!r} holds a NUL or a lone surrogate",
            {"field": "message_ref"},
        )


class Guard:
    """Checks the items of one document. Strings are searched only when the document
    could carry an unholdable character at all (a JSON escape for one): XML cannot."""

    def __init__(self, doc: Document) -> None:
        self._text = doc.kind is not Kind.XML and _RISKY_ESCAPE.search(doc.raw) is not None

    def errors(self, index: int, item: CanonicalItem) -> list[ItemError]:
        """``value_invalid`` for each value of ``item`` that cannot be stored."""
        found: list[tuple[str, str]] = []
        _numbers(item, found)
        if self._text:
            _texts(item, "", found)
        if not found:
            return found  # empty: the caller may add to it
        item_id = printable(item.item_id)
        by_path = {item.path_of(name): message for name, message in reversed(found)}
        return [  # one error a source value, though it may feed several fields
            ItemError(index, item_id, path, ItemCode.VALUE_INVALID, message)
            for path, message in reversed(by_path.items())
        ]


def _numbers(item: CanonicalItem, found: list[tuple[str, str]]) -> None:
    """Every number of ``item``, tested where it stands, without a call or a tuple: this
    runs on every item, and a field's name is built only for a number that fails. A
    decimal holds when it is finite and its leading digit is from 10^-30 to 10^14."""
    low, high, smallest, largest = INT_LOW, INT_HIGH, SMALLEST_DIGIT, LARGEST_DIGIT
    integer = item.revision
    if integer is not None and not low <= integer <= high:
        found.append(_outside("revision", integer))
    integer = item.pieces
    if integer is not None and not low <= integer <= high:
        found.append(_outside("pieces", integer))
    number = item.gross_weight_kg
    if number is not None and not (number.is_finite() and smallest <= number.adjusted() <= largest):
        found.append(_unreadable("gross_weight_kg", number))
    money = item.total_value
    if money is not None and not (
        (number := money.amount).is_finite() and smallest <= number.adjusted() <= largest
    ):
        found.append(_unreadable("total_value", number))
    money = item.postal_charges
    if money is not None and not (
        (number := money.amount).is_finite() and smallest <= number.adjusted() <= largest
    ):
        found.append(_unreadable("postal_charges", number))
    for line_number, line in enumerate(item.contents, 1):
        integer = line.line_no
        if integer is not None and not low <= integer <= high:
            found.append(_outside(f"contents[{line_number}].line_no", integer))
        number = line.quantity
        if number is not None and not (
            number.is_finite() and smallest <= number.adjusted() <= largest
        ):
            found.append(_unreadable(f"contents[{line_number}].quantity", number))
        number = line.net_weight_kg
        if number is not None and not (
            number.is_finite() and smallest <= number.adjusted() <= largest
        ):
            found.append(_unreadable(f"contents[{line_number}].net_weight_kg", number))
        money = line.value
        if money is not None and not (
            (number := money.amount).is_finite() and smallest <= number.adjusted() <= largest
        ):
            found.append(_unreadable(f"contents[{line_number}].value", number))


def _outside(name: str, value: int) -> tuple[str, str]:
    return name, f"{name} {value} is outside {INT_LOW} to {INT_HIGH}"


def _unreadable(name: str, value: Decimal) -> tuple[str, str]:
    """A number that is not finite, or whose leading digit is not from 10^-30 to 10^14
    (zero is 10^0)."""
    shown = f"{value:.6e}" if value.is_finite() else str(value)
    return name, f"{name} {shown} is not a finite number below 10^15 and above 10^-30"


def _texts(value: Any, name: str, found: list[tuple[str, str]]) -> None:
    """Every string under ``value`` (a canonical dataclass, list or scalar)."""
    if isinstance(value, str):
        if unholdable(value):
            found.append((name, f"{name} holds a NUL or a lone surrogate"))
    elif isinstance(value, list):
        for number, element in enumerate(value, 1):
            _texts(element, f"{name}[{number}]", found)
    elif hasattr(value, "__dataclass_fields__"):
        for field_name in value.__dataclass_fields__:
            if field_name != "field_paths":
                child = f"{name}.{field_name}" if name else field_name
                _texts(getattr(value, field_name), child, found)
