"""Argument types shared by the commands: a person's mistake is told in one line by
argparse (``Parser.error``), before any database is touched."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from gateway import operators
from gateway.canonical import parse_time


def operator_code(text: str) -> str:
    """An operator code (``ALPHA`` is refused with the code it should be)."""
    problem = operators.code_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """A number above zero, read as ``kind``."""

    def read(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
        return value

    return read


def hours(text: str) -> float:
    """A number of hours from 0 to a year."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 24 * 366:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours (0 to 8784)")
    return value


def utc_time(text: str) -> datetime:
    """An ISO 8601 time, UTC when it carries no offset."""
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
