"""``aedgw scorecard`` and ``aedgw operators targets|baseline``: each operator's data
quality over a period, against its baseline and its targets."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from gateway import audit, config, rollups, scorecard
from gateway.cli import database
from gateway.cli.output import emit, emit_json
from gateway.scorecard import BY_NAME, OperatorUnknown, Period

MARKS = {"better": "▲ better", "worse": "▼ worse", "same": "= same", None: ""}


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "scorecard", help="data quality per operator against its baseline and targets"
    )
    cmd.add_argument("--operator", help="one operator (default: all)")
    cmd.add_argument("--since", help="first UTC day, YYYY-MM-DD (default: this UTC week)")
    cmd.add_argument("--until", help="last UTC day, YYYY-MM-DD (default: today)")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(run=run_scorecard)


def register_operator_actions(sub: argparse._SubParsersAction) -> None:
    """``operators targets set|list|clear`` and ``operators baseline set|clear``."""
    targets = sub.add_parser("targets", help="an operator's scorecard targets")
    actions = targets.add_subparsers(dest="targets_action", required=True, metavar="ACTION")
    put = actions.add_parser("set", help="set targets: MEASURE=VALUE (0.95 or 95%%) …")
    put.add_argument("code")
    put.add_argument("targets", nargs="+", metavar="MEASURE=VALUE",
                     help=f"measures: {', '.join(BY_NAME)}")
    put.set_defaults(run=run_targets_set)
    lst = actions.add_parser("list", help="targets of one operator or all")
    lst.add_argument("code", nargs="?")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=run_targets_list)
    clear = actions.add_parser("clear", help="drop targets (every one when none is named)")
    clear.add_argument("code")
    clear.add_argument("measures", nargs="*", metavar="MEASURE")
    clear.set_defaults(run=run_targets_clear)

    baseline = sub.add_parser("baseline", help="the period an operator is compared with")
    actions = baseline.add_subparsers(dest="baseline_action", required=True, metavar="ACTION")
    put = actions.add_parser("set", help="compare with these UTC days instead of the first 30")
    put.add_argument("code")
    put.add_argument("--from", dest="since", required=True, help="YYYY-MM-DD")
    put.add_argument("--to", dest="until", required=True, help="YYYY-MM-DD")
    put.set_defaults(run=run_baseline_set)
    clear = actions.add_parser("clear", help="back to the first 30 days with data")
    clear.add_argument("code")
    clear.set_defaults(run=run_baseline_clear)


def _fail(message: str, code: int = 2) -> int:
    print(f"aedgw: {message}", file=sys.stderr)
    return code


def run_scorecard(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    try:
        period = Period.parse(args.since, args.until, rollups.today())
    except ValueError as exc:
        return _fail(str(exc))

    async def action(pool: asyncpg.Pool) -> list[dict[str, Any]]:
        return await scorecard.scorecards(
            pool, period, operator=args.operator,
            late_hours=settings.scorecard.late_hours, max_age_s=0,
        )

    try:
        cards = database.run(args, action)
    except OperatorUnknown:
        return _fail(f"no operator {args.operator!r}", 1)
    if args.json:
        emit_json(cards)
    else:
        for card in cards:
            show(Console(), card)
    return 0


def _percent_or_rate(name: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.1f} %" if BY_NAME[name].share else f"{value:.2f}"


def show(console: Console, card: dict[str, Any]) -> None:
    """One operator's scorecard as a table for people."""
    period, baseline, counts = card["period"], card["baseline"], card["counts"]
    base = f"{baseline['from']} – {baseline['to']}" if baseline else "none yet"
    table = Table(
        "measure", "value", "baseline", "vs baseline", "target", "target met",
        title=f"{card['operator']}: {period['from']} – {period['to']} (baseline {base})",
        title_justify="left",
    )
    for m in card["measures"]:
        met = {True: "yes", False: "NO", None: ""}[m["meets_target"]]
        table.add_row(
            m["label"],
            _percent_or_rate(m["name"], m["value"]),
            _percent_or_rate(m["name"], m["baseline"]),
            MARKS[m["vs_baseline"]],
            _percent_or_rate(m["name"], m["target"]),
            met,
        )
    console.print(table)
    rejections = ", ".join(f"{code} {n}" for code, n in card["rejections"].items()) or "none"
    console.print(
        f"messages {counts['messages']} ({counts['messages_refused']} refused), items "
        f"received {counts['items_received']}, rejected {counts['items_rejected']} "
        f"({rejections}); late means under {card['late_hours']} h before departure; "
        f"{counts['without_departure']} items without a departure time\n"
    )


def run_targets_set(args: argparse.Namespace) -> int:
    targets: dict[str, float] = {}
    for text in args.targets:
        name, sep, value = text.partition("=")
        if not sep:
            return _fail(f"{text!r} is not MEASURE=VALUE")
        try:
            targets[name.strip()] = scorecard.parse_target(name.strip(), value)
        except ValueError as exc:
            return _fail(str(exc))

    async def action(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await scorecard.set_targets(conn, args.code, targets)
            await audit.record(conn, audit.cli_actor(), "operators.targets.set", args.code,
                               {"targets": targets})

    try:
        database.run(args, action)
    except OperatorUnknown:
        return _fail(f"no operator {args.code!r}", 1)
    print(f"targets of {args.code}: " + ", ".join(f"{k} {v:g}" for k, v in targets.items()),
          file=sys.stderr)
    return 0


def run_targets_list(args: argparse.Namespace) -> int:
    async def action(pool: asyncpg.Pool) -> list[dict[str, Any]]:
        return await scorecard.list_targets(pool, args.code)

    rows = database.run(args, action)
    emit(rows, ("operator", "measure", "value", "set_at"), as_json=args.json)
    return 0


def run_targets_clear(args: argparse.Namespace) -> int:
    unknown = [m for m in args.measures if m not in BY_NAME]
    if unknown:
        return _fail(f"unknown measure {unknown[0]!r} (one of {', '.join(BY_NAME)})")

    async def action(pool: asyncpg.Pool) -> list[str]:
        async with pool.acquire() as conn, conn.transaction():
            dropped = await scorecard.clear_targets(conn, args.code, args.measures or None)
            if dropped:
                await audit.record(conn, audit.cli_actor(), "operators.targets.clear",
                                   args.code, {"measures": dropped})
            return dropped

    dropped = database.run(args, action)
    print(f"targets dropped: {', '.join(dropped) or 'none'}", file=sys.stderr)
    return 0


def run_baseline_set(args: argparse.Namespace) -> int:
    try:
        period = Period.parse(args.since, args.until, rollups.today())
    except ValueError as exc:
        return _fail(str(exc).replace("since", "--from").replace("until", "--to"))

    async def action(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await scorecard.set_baseline(conn, args.code, period)
            await audit.record(conn, audit.cli_actor(), "operators.baseline.set", args.code,
                               period.to_dict())

    try:
        database.run(args, action)
    except OperatorUnknown:
        return _fail(f"no operator {args.code!r}", 1)
    print(f"baseline of {args.code}: {period.first} – {period.last}", file=sys.stderr)
    return 0


def run_baseline_clear(args: argparse.Namespace) -> int:
    async def action(pool: asyncpg.Pool) -> bool:
        async with pool.acquire() as conn, conn.transaction():
            cleared = await scorecard.clear_baseline(conn, args.code)
            if cleared:
                await audit.record(conn, audit.cli_actor(), "operators.baseline.clear",
                                   args.code)
            return cleared

    if not database.run(args, action):
        return _fail(f"no baseline was set for {args.code!r}", 1)
    print(f"baseline of {args.code}: its first 30 days with data", file=sys.stderr)
    return 0
