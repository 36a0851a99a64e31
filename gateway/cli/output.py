"""Printing results: a rich table for people, JSON for scripts (``--json``).

On a terminal a table fits the window; piped (``| less -S``, ``| grep``) it keeps its
natural width instead of rich's 80 columns, so that rows are never wrapped or folded.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

stderr = Console(stderr=True)
UNWRAPPED = 1_000_000
"""A console width no table reaches: rich then draws every table at its natural width."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def emit(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, as_json: bool) -> None:
    rows = list(rows)
    if as_json:
        data = [{c: row[c] for c in columns} for row in rows]
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str) + b"\n")
        return
    table = Table(*columns)
    for column in table.columns:
        column.overflow = "fold"  # ids and paths are read whole, even in a narrow window
    for row in rows:
        table.add_row(*(Text(_cell(row[c])) for c in columns))  # a value is never markup
    console = Console()
    if not console.is_terminal:
        console = Console(width=UNWRAPPED)
    console.print(table)


def emit_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str) + b"\n")
