"""deliver: a backlog of records (200,000) pushed by one gateway process (batches of
500, two in flight) to a receiver in its own process that keeps only the
(record_id, revision) pairs and counts duplicates.

The rate is the records over the receiver's window, from the first batch's arrival to the
last one's end (the gateway's start-up is not delivery); CPU seconds are counted from the
moment the gateway is ready. The receiver must hold every routed record once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.bench import processes
from gateway.bench.machine import tree_cpu_s
from gateway.bench.run import TARGET, BenchFailure, Run
from gateway.store import Q

POLL_S = 0.05
MIN_RATE = 200
"""Records/s below which a drain is taken as stuck (the bench gives up, loudly)."""


async def measure(run: Run) -> dict[str, Any]:
    await run.ensure_backlog()
    await run.stop_gateway()  # the pushing gateway is the only one running
    expected = (await run.pool.fetchrow(Q.bench_outbox_left, TARGET))["waiting"]
    async with processes.receiver() as receiver, run.serve(push=receiver.url) as server:
        started = time.perf_counter()
        meter = run.meter(server, "receiver", lambda: tree_cpu_s(receiver.pid))
        at_start = (await receiver.get_json("/tally"))["unique"]
        deadline = started + 60 + expected / MIN_RATE
        while (tally := await receiver.get_json("/tally"))["unique"] < expected:
            if time.perf_counter() > deadline:
                raise BenchFailure(
                    f"deliver: only {tally['unique']} of {expected} records arrived"
                )
            await asyncio.sleep(POLL_S)
        cpu = meter.per_item(expected - at_start)
    left = await run.pool.fetchrow(Q.bench_outbox_left, TARGET)
    if tally["unique"] != expected or left["waiting"] or left["dead"]:
        raise BenchFailure(
            f"deliver: NOT EXACTLY ONCE: {expected} records routed, {tally['unique']} "
            f"received, {left['waiting']} still waiting, {left['dead']} dead"
        )
    return {
        "records": expected,
        "records_per_s": round(expected / tally["window_s"]) if tally["window_s"] else None,
        "duplicates": tally["duplicates"],
        "batches": tally["batches"],
        "cpu_s_per_item": cpu,
    }
