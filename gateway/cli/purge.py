"""``aedgw purge [--dry-run]``: remove data past its retention now (``serve`` also does
it on a schedule), or count what would go and which feed consumers would lose records."""

from __future__ import annotations

import argparse
import sys

import asyncpg
from rich.progress import Progress

from gateway import audit, config, retention
from gateway.cli import database
from gateway.cli.output import emit, emit_json, stderr

COLUMNS = ("kind", "retention_days", "before", "rows")
LOSS_COLUMNS = ("name", "cursor", "records")


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("purge", help="remove data past its retention ([retention] settings)")
    cmd.add_argument(
        "--dry-run", action="store_true", help="count what would be removed; remove nothing"
    )
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)

    async def action(pool: asyncpg.Pool) -> retention.Report:
        if args.dry_run:
            return await retention.dry_run(pool, settings.retention)
        with Progress(console=stderr, transient=True) as progress:
            task = progress.add_task("purging", total=None)
            return await retention.purge(
                pool,
                settings.retention,
                audit.cli_actor(),
                progress=lambda kind, rows: progress.update(
                    task, description=f"purging {kind}: {rows} rows"
                ),
            )

    try:
        report = database.run(args, action)
    except retention.PurgeRunning as exc:
        print(f"aedgw: {exc}; try again when it ends", file=sys.stderr)
        return 1
    if args.json:
        emit_json(report.to_dict(settings.retention))
        return 0
    emit(report.table(settings.retention), COLUMNS, as_json=False)
    if report.losses:
        print("registered feed consumers that would never read these records:", file=sys.stderr)
        emit([loss.to_dict() for loss in report.losses], LOSS_COLUMNS, as_json=False)
    verb = "would remove" if report.dry_run else "removed"
    print(f"{verb} {sum(report.rows.values())} rows", file=sys.stderr)
    return 0
