"""``aedgw targets list|backfill``: the configured push targets, and giving one the
records accepted before it was added."""

from __future__ import annotations

import argparse
from dataclasses import asdict

import asyncpg
from rich.progress import Progress

from gateway import audit, config
from gateway.cli import database
from gateway.cli.arguments import operator_code, positive, utc_time
from gateway.cli.output import emit, emit_json, stderr
from gateway.config import ConfigError, Target
from gateway.delivery.backfill import Backfilled, backfill
from gateway.delivery.pacing import RowBudget

COLUMNS = ("name", "url", "destination_countries", "operators", "batch_size", "concurrency")


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("targets", help="configured push targets; backfill one")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = sub.add_parser("list", help="the targets in the settings and their routes")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=run_list)
    fill = sub.add_parser(
        "backfill", help="queue for a target the records accepted before it was added"
    )
    fill.add_argument("name", help="a configured target's name")
    fill.add_argument(
        "--since", type=utc_time, help="accepted at or after this ISO 8601 time (UTC if no offset)"
    )
    fill.add_argument("--operator", type=operator_code, help="only this operator's items")
    fill.add_argument(
        "--rate", type=positive(float), default=1000.0,
        help="rows per second at most (default 1000)",
    )
    fill.add_argument("--json", action="store_true")
    fill.set_defaults(run=run_backfill)


def run_list(args: argparse.Namespace) -> int:
    rows = [
        {
            "name": t.name,
            "url": t.url,
            "destination_countries": t.routes.get("destination_countries", []),
            "operators": t.routes.get("operators", []),
            "batch_size": t.batch_size,
            "concurrency": t.concurrency,
        }
        for t in config.load(args.config).targets
    ]
    emit(rows, COLUMNS, as_json=args.json)
    return 0


def _target(settings: config.Settings, name: str) -> Target:
    for target in settings.targets:
        if target.name == name:
            return target
    known = ", ".join(t.name for t in settings.targets) or "none configured"
    raise ConfigError(f"no target {name!r} in the settings (known: {known})")


def run_backfill(args: argparse.Namespace) -> int:
    target = _target(config.load(args.config), args.name)

    async def action(pool: asyncpg.Pool) -> Backfilled:
        with Progress(console=stderr, transient=True) as progress:
            task = progress.add_task(f"backfilling {target.name}", total=None)
            return await backfill(
                pool, target, RowBudget(args.rate, max(args.rate, 1.0)), audit.cli_actor(),
                since=args.since, operator=args.operator,
                progress=lambda done: progress.update(task, completed=done.examined),
            )

    done = database.run(args, action)
    if args.json:
        emit_json(asdict(done))
    else:
        print(
            f"queued {done.queued} for {target.name}; {done.present} it had already, "
            f"{done.not_routed} its routes do not take ({done.examined} items examined)"
        )
    return 0
