"""Runs the chosen scenarios in order on one scratch database and gathers the result:
``{"machine": {...}, "scenarios": {NAME: {figures}}}``."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console

from gateway.bench.machine import machine
from gateway.bench.run import Run, Sizes
from gateway.bench.scenarios import batch, deliver, feed, floor, ndjson, single, translate
from gateway.store import Q

Scenario = Callable[[Run], Awaitable[dict[str, Any]]]

SCENARIOS: dict[str, Scenario] = {
    "floor": floor.measure,
    "translate": translate.measure,
    "batch": batch.measure,
    "single": single.measure,
    "ndjson": ndjson.measure,
    "feed": feed.measure,
    "deliver": deliver.measure,
}
"""In the order they run: the in-process floors first; deliver last, as it drains the
backlog that feed pages through."""


async def execute(
    names: Sequence[str],
    sizes: Sizes,
    database_url: str,
    pool: asyncpg.Pool,
    config: Path | None,
    log: Console,
) -> dict[str, Any]:
    """``pool`` is on ``database_url``, migrated; gateways started here share it."""
    about = machine(await pool.fetchval(Q.bench_server_version))
    run = await Run.start(
        sizes, database_url, pool, config, lambda text: log.print(text, highlight=False)
    )
    results: dict[str, Any] = {}
    try:
        for name, measure in SCENARIOS.items():
            if name in names:
                log.print(f"[bold]{name}[/] …")
                results[name] = await measure(run)
                log.print(f"  {_headline(results[name])}", highlight=False)
    finally:
        await run.stop_gateway()
    about["load_avg_1m_end"] = round(os.getloadavg()[0], 2)  # others' work shows here
    return {"machine": about, "scenarios": results}


def _headline(figures: dict[str, Any]) -> str:
    """The scalar figures of a scenario, for the progress log on stderr."""
    return "  ".join(f"{k}={v}" for k, v in figures.items() if isinstance(v, int | float))
