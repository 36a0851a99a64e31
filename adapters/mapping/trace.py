"""Reading an item traced: every value with its source path, every error, every hit.

The generated ``trace`` function (:mod:`.generate`) reads an item as ``read`` does and
writes what it finds here: the canonical field paths (``CanonicalItem.field_paths``), each
value that cannot be converted at its own path (a unit or currency at the parameter's
path), and, for lint, the mapped paths that matched. The syntax-specific parts (naming an
element or a pointer) are the subclasses in :mod:`.xml_paths` and :mod:`.json_paths`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from adapters.convert import ConversionError
from adapters.mapping import conversions
from adapters.mapping.conversions import InputError
from gateway.canonical import Money

Row = tuple[Any, str]
"""A raw value and its source path."""


class Trace:
    """What one traced read found."""

    def __init__(self) -> None:
        self.paths: dict[str, str] = {}
        self.errors: list[tuple[str, ConversionError]] = []
        self.hits: set[tuple[str, str]] = set()

    def fail(self, error: ConversionError, path: str, parts: dict[str, str]) -> None:
        """A value that cannot be converted, at its path (or its parameter's)."""
        if isinstance(error, InputError) and parts.get(error.part):
            path = parts[error.part]
        self.errors.append((path, error))

    def lines(self, name: str, rows: list[Row]) -> None:
        """Address lines: each recorded as ``name[i]``."""
        for i, (_, path) in enumerate(rows, 1):
            self.paths[f"{name}[{i}]"] = path

    def unique_errors(self) -> list[tuple[str, ConversionError]]:
        """Each bad value once, however many fields read it: the first error per path."""
        seen: dict[str, ConversionError] = {}
        for path, error in self.errors:
            seen.setdefault(path, error)
        return list(seen.items())

    def weigh(self, parts: tuple[tuple[Any, Any, Any], ...], convert: Callable) -> tuple:
        """:func:`.conversions.weigh`, traced: each bad part at its path; the weight's path
        is its first part's."""
        found, where = [], None
        for raw, path, factor in parts:
            if raw is None:
                continue
            where = where or path
            try:
                found.append(convert(raw) * factor)
            except ConversionError as exc:
                self.errors.append((path, exc))
                return None, where
        return (sum(found, Decimal(0)) if found else None), where

    def total(
        self,
        rows: list[Any],
        convert: Callable[..., Any],
        quantity: Callable[[Any], Any] | None,
        extra: list[Any],
        currencies: list[Row] | None,
    ) -> Any:
        """:func:`.conversions.sum_of`, traced: each bad value at its own path."""
        args = list(extra)
        if currencies is not None:
            currency = currencies[0][0] if currencies else None
            for other, where in currencies[1:]:
                if other != currency:
                    message = f"currency {other!r} differs from {currency!r}"
                    self.errors.append((where, ConversionError(message, other)))
                    return None
            args.append(currency)
        values = []
        for row in rows:
            (raw, where), (count, count_where) = row if quantity else (row, (None, ""))
            if raw is None:
                continue
            try:
                value = convert(raw, *args)
                if quantity is not None:
                    factor = quantity(count) if count is not None else None
                    value = conversions.times(value, factor, raw)
            except ConversionError as exc:
                at = count_where if isinstance(exc, InputError) and exc.part == "times" else where
                self.errors.append((at, exc))
                return None
            if values and isinstance(value, Money) and value.currency != values[0].currency:
                message = f"currency {value.currency!r} differs from {values[0].currency!r}"
                self.errors.append((where, ConversionError(message, value.currency)))
                return None
            values.append(value)
        return conversions.finish(conversions.total(values), quantity is not None)
