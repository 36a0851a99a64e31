"""A bench result as rows for people: the CLI's table, and the README's Performance
figures (``python -m gateway.bench.report bench.json`` prints them as Markdown)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

COLUMNS = ("scenario", "rate", "p50 ms", "p99 ms", "× floor", "peak RSS MB",
           "CPU µs/item gateway", "database", "3rd process")
ROWS = (
    ("floor", "floor, items/s", "items_per_s"),
    ("translate", "translate, items/s", "items_per_s"),
    ("batch", "batch, items/s", "items_per_s"),
    ("batch.workers_2", "batch, 2 processes, items/s", "items_per_s"),
    ("single", "single, msg/s", "msgs_per_s"),
    ("ndjson", "ndjson, items/s", "items_per_s"),
    ("feed.json", "feed JSON, records/s", "records_per_s"),
    ("feed.xml", "feed XML, records/s", "records_per_s"),
    ("deliver", "deliver, records/s", "records_per_s"),
)
LEGEND = (
    "× floor: batch against the floor (parse + XSD + COPY), translate against the parse "
    "alone. CPU µs an item (a record for feed and deliver) of the gateway, the database "
    "and the third process: load generator, feed consumer or push receiver."
)


def machine_line(machine: dict[str, Any]) -> str:
    return (f"{machine['cpu']}, {machine['cores']} cores, {machine['python']}, PostgreSQL "
            f"{machine['postgresql']}, {machine['loop']}, load average "
            f"{machine['load_avg_1m']} at the start, {machine.get('load_avg_1m_end')} at the end")


def rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per scenario (and variant) present in the result, as ``COLUMNS``."""
    out = []
    for path, label, rate in ROWS:
        figures: Any = result["scenarios"]
        for part in path.split("."):
            figures = figures.get(part) if isinstance(figures, dict) else None
        if not figures:
            continue
        cpu = figures.get("cpu_s_per_item") or {}
        third = cpu.get("load_generator", cpu.get("receiver", cpu.get("consumer")))
        out.append([
            label,
            _cell(figures[rate]),
            *(_cell(figures.get(k)) for k in ("p50_ms", "p99_ms", "ratio_to_floor",
                                               "peak_rss_mb")),
            *(_cell(None if v is None else round(v * 1e6))
              for v in (cpu.get("gateway"), cpu.get("database"), third)),
        ])
    return out


def _cell(value: Any) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Measured on: {machine_line(result['machine'])}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(result)]
    return "\n".join([*lines, "", LEGEND])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("result", type=Path, help="the output of aedgw bench --json")
    path = parser.parse_args().result
    try:
        print(markdown(orjson.loads(path.read_bytes())))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        print(f"{path}: not a result of aedgw bench --json ({exc})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
