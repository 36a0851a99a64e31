"""Printing results: a rich table for people, JSON for scripts (``--json``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

stderr = Console(stderr=True)


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
        column.overflow = "fold"  # ids and paths are read whole, even in a narrow pipe
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    Console().print(table)


def emit_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str) + b"\n")
