"""``aedgw bench``: the gateway measured as it runs (``gateway/bench``), with floors
measured in the same run; a table for people, one JSON object with ``--json``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from gateway import config
from gateway.bench import report
from gateway.bench.harness import SCENARIOS, execute
from gateway.bench.machine import new_event_loop
from gateway.bench.processes import ProcessFailed
from gateway.bench.run import FULL, QUICK, BenchFailure, Sizes
from gateway.cli.database import migrated_pool
from gateway.cli.local import scratch_database
from gateway.cli.output import emit_json


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "bench", help="measure the gateway on this machine (aedgw serve in its own process)"
    )
    cmd.add_argument("--scenario", action="append", choices=list(SCENARIOS), metavar="NAME",
                     help=f"run only these (repeatable): {', '.join(SCENARIOS)}")
    cmd.add_argument("--quick", action="store_true", help="smaller sizes: all in under 2 minutes")
    cmd.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    sizes = cmd.add_argument_group("sizes (defaults: full run / --quick)")
    sizes.add_argument("--items", type=int, help=f"floor, translate, batch items "
                       f"({FULL.items} / {QUICK.items})")
    sizes.add_argument("--batch", type=int, help=f"items a batch message ({FULL.batch})")
    sizes.add_argument("--concurrency", type=int,
                       help=f"batch messages in flight ({FULL.concurrency})")
    sizes.add_argument("--lines", type=int, help=f"ndjson file lines ({FULL.lines} / "
                       f"{QUICK.lines})")
    sizes.add_argument("--backlog", type=int, help=f"records for deliver and feed "
                       f"({FULL.backlog} / {QUICK.backlog})")
    sizes.add_argument("--step", type=float, dest="step_s",
                       help=f"seconds per single rate step ({FULL.step_s:g} / {QUICK.step_s:g})")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else FULL
    chosen = {k: getattr(args, k) for k in vars(sizes) if getattr(args, k, None) is not None}
    if any(value <= 0 for value in chosen.values()):
        print("aedgw bench: sizes must be positive", file=sys.stderr)
        return 2
    sizes = replace(sizes, **chosen)
    log = Console(stderr=True)
    settings = config.load(args.config)
    try:
        with (
            scratch_database(settings, "aedgw-bench-") as url,
            asyncio.Runner(loop_factory=new_event_loop) as runner,
        ):
            result = runner.run(_measure(args, sizes, url, log))
    except (BenchFailure, ProcessFailed) as exc:
        print(f"aedgw bench: FAILED: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"aedgw bench: the database: {exc}", file=sys.stderr)
        return 1
    if args.json:
        emit_json(result)
    else:
        Console().print(_table(result))
    return 0


async def _measure(args: argparse.Namespace, sizes: Sizes, url: str, log: Console) -> Any:
    pool = await migrated_pool(url)
    try:
        return await execute(args.scenario or list(SCENARIOS), sizes, url, pool, args.config, log)
    finally:
        await pool.close()


def _table(result: dict[str, Any]) -> Table:
    table = Table(*report.COLUMNS, title=report.machine_line(result["machine"]),
                  caption=report.LEGEND)
    for row in report.rows(result):
        table.add_row(*row)
    return table
