"""``aedgw deadletters list|replay``: look at what delivery gave up on, and send it again
at a bounded rate (``--rate`` rows per second, a token bucket)."""

from __future__ import annotations

import argparse
import sys

import asyncpg
from rich.progress import Progress

from gateway import audit
from gateway.cli import database
from gateway.cli.arguments import operator_code, positive
from gateway.cli.output import emit, emit_json, stderr
from gateway.delivery import deadletters
from gateway.delivery.deadletters import Filters, Replayed
from gateway.delivery.pacing import RowBudget

# The full rows, last_error included, are in --json.
TABLE_COLUMNS = ("id", "target", "operator", "item_id", "revision", "attempts", "error_code",
                 "http_status", "dead_at")


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("deadletters", help="list and replay failed deliveries")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = sub.add_parser("list", help="dead letters, oldest first")
    _filters(lst)
    lst.add_argument(
        "--limit", type=positive(int), default=100, help="most rows shown (default 100)"
    )
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=run_list)
    replay = sub.add_parser("replay", help="return dead letters to their queue, attempts reset")
    _filters(replay)
    replay.add_argument(
        "--limit", type=positive(int), default=None, help="most rows (default: all)"
    )
    replay.add_argument(
        "--rate", type=positive(float), default=100.0, help="rows per second at most (default 100)"
    )
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(run=run_replay)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", help="a target's name")
    parser.add_argument("--operator", type=operator_code, help="an operator code")
    parser.add_argument("--since", help="dead at or after this ISO 8601 time (UTC if no offset)")
    parser.add_argument("--until", help="dead before this ISO 8601 time")
    parser.add_argument("--code", help="error code: client_error, rejected, server_error, ...")


def _parse(args: argparse.Namespace) -> Filters | None:
    try:
        return Filters.parse(vars(args))
    except ValueError as exc:
        print(f"aedgw: {exc}", file=sys.stderr)
        return None


def run_list(args: argparse.Namespace) -> int:
    filters = _parse(args)
    if filters is None:
        return 2

    async def action(pool: asyncpg.Pool) -> tuple[list[dict], int]:
        rows = await deadletters.list_dead(pool, filters, limit=args.limit)
        return rows, await deadletters.count(pool, filters)

    rows, total = database.run(args, action)
    emit(rows, deadletters.COLUMNS if args.json else TABLE_COLUMNS, as_json=args.json)
    print(f"{len(rows)} of {total} dead letters", file=sys.stderr)
    return 0


def run_replay(args: argparse.Namespace) -> int:
    filters = _parse(args)
    if filters is None:
        return 2
    async def action(pool: asyncpg.Pool) -> Replayed:
        total = await deadletters.count(pool, filters)
        if args.limit is not None:
            total = min(total, args.limit)
        with Progress(console=stderr, transient=True) as progress:
            task = progress.add_task("replaying", total=total)
            return await deadletters.replay_paced(
                pool, filters, total, RowBudget(args.rate, max(args.rate, 1.0)),
                audit.cli_actor(), lambda done: progress.update(task, completed=done),
            )

    result = database.run(args, action)
    summary = {"replayed": result.replayed, "superseded": result.superseded}
    if args.json:
        emit_json(summary)
    else:
        print(f"replayed {result.replayed}, superseded {result.superseded} "
              "(a newer revision of the item exists for the target)")
    return 0

