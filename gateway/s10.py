"""The UPU S10 item identifier (``RR287043775IN``): its shape and its check digit.

Kept apart from the other rules because adapters, the CLI and tests need the check digit
on its own (to make valid ids, or to tell an operator which digit was expected).
"""

from __future__ import annotations

import re
from operator import mul
from typing import NamedTuple

import pycountry

WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
"""The UPU S10 weights of the eight serial digits."""
_ZEROS = ord("0") * sum(WEIGHTS)
"""The weighted sum of eight "0" characters: the digits are summed as their ASCII
codes (no int() per digit, it runs on every item), then this is taken off."""

# [0-9], not \d: a Unicode digit (Arabic-Indic, fullwidth) is not an S10 digit.
_SHAPE = re.compile(r"([A-Z]{2})([0-9]{8})([0-9])([A-Z]{2})")


class S10(NamedTuple):
    """The four parts of an S10 identifier, as sent (the check digit is not verified). A
    named tuple, not a frozen dataclass: the rules parse one for every item, and a frozen
    dataclass costs about three times as much to build."""

    service_indicator: str
    serial: str
    check_digit: int
    country: str

    @property
    def expected_check_digit(self) -> int:
        return check_digit(self.serial)


def check_digit(serial8: str) -> int:
    """The check digit of an eight-digit serial: 11 - (weighted sum mod 11); 10 -> 0, 11 -> 5."""
    if len(serial8) != 8 or not serial8.isascii() or not serial8.isdigit():
        raise ValueError(f"an S10 serial is eight digits, not {serial8!r}")
    digit = 11 - (sum(map(mul, WEIGHTS, serial8.encode())) - _ZEROS) % 11
    return 0 if digit == 10 else 5 if digit == 11 else digit


def parse_s10(text: str) -> S10 | None:
    """The parts of ``text`` if it has the S10 shape (upper case, no spaces), else None.

    Callers normalise first (the rules strip and upper-case the id): a parser that
    guessed would hide what the operator really sent.
    """
    match = _SHAPE.fullmatch(text)
    if match is None:
        return None
    indicator, serial, digit, country = match.groups()
    return S10(indicator, serial, int(digit), country)


def is_valid(text: str) -> bool:
    """An S10 id with the right check digit and an ISO 3166-1 issuing country."""
    parsed = parse_s10(text)
    return (
        parsed is not None
        and parsed.check_digit == parsed.expected_check_digit
        and pycountry.countries.get(alpha_2=parsed.country) is not None
    )
