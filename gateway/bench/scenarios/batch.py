"""batch: 1,000-item Alpha v11 messages over HTTP into PostgreSQL, a few in flight,
through ``aedgw serve`` (and ``serve --workers 2`` where the gateway has it)."""

from __future__ import annotations

from typing import Any

from gateway.bench.client import closed_loop
from gateway.bench.processes import Server
from gateway.bench.run import Run, percentiles


async def measure(run: Run) -> dict[str, Any]:
    figures = await _through(run, await run.gateway(), "batch")
    if run.serve_workers:
        await run.stop_gateway()  # two processes on two cores: nothing else running
        async with run.serve(workers=2) as server:
            figures["workers_2"] = await _through(run, server, "batch (2 workers)")
    return figures


async def _through(run: Run, server: Server, where: str) -> dict[str, Any]:
    sizes = run.sizes
    alpha = run.alpha
    client = server.client(sizes.concurrency)
    try:
        warm = await closed_loop(client, [run.submission(server, alpha.message(sizes.batch))], 1)
        run.tally(warm, where)
        requests = [run.submission(server, m) for m in alpha.messages(sizes.items, sizes.batch)]
        meter = run.meter(server)
        answers = await closed_loop(client, requests, sizes.concurrency)
        cpu = meter.per_item(sizes.items)
    finally:
        client.close()
    accepted = run.tally(answers, where)
    await run.check_stored(where)
    rate = accepted / answers.seconds
    floor = run.figures.get("floor_items_per_s")
    return {
        "items": accepted,
        "items_per_s": round(rate),
        "msgs_per_s": round(len(requests) / answers.seconds, 1),
        **percentiles(answers.latencies_s),
        "ratio_to_floor": round(rate / floor, 3) if floor else None,
        "cpu_s_per_item": cpu,
    }
