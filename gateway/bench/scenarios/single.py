"""single: one-item messages sent open loop at a fixed rate, the rate stepped up to the
highest one where p99 < 50 ms and every answer is a 202.

Latency runs from each message's scheduled send time, so a stalled gateway is charged
for every message it held back (no coordinated omission). Rates double from 100 msg/s
until a step fails, then two steps halve the gap between the last pass and the failure.
A warm-up step at the first rate, not reported, comes first: the first messages load
schemas and open database connections, which no later message pays for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.bench.client import open_loop
from gateway.bench.run import Run, percentiles

P99_LIMIT_MS = 50.0
FIRST_RATE = 100
MAX_RATE = 6_400
CONNECTIONS = 64
REFINEMENTS = 2


async def measure(run: Run) -> dict[str, Any]:
    server = await run.gateway()
    client = server.client(CONNECTIONS)
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    passed, failed, refinements = 0, 0, 0
    rate = FIRST_RATE
    try:
        warm_up = [run.submission(server, run.alpha.message(1))
                   for _ in range(max(1, round(FIRST_RATE * run.sizes.step_s)))]
        run.tally(await open_loop(client, warm_up, FIRST_RATE), "single", strict=False)
        await asyncio.sleep(1.0)
        while rate:
            alpha = run.alpha
            count = max(1, round(rate * run.sizes.step_s))
            requests = [run.submission(server, alpha.message(1)) for _ in range(count)]
            meter = run.meter(server)
            answers = await open_loop(client, requests, rate)
            step: dict[str, Any] = {
                "rate_msgs_per_s": rate,
                "msgs": count,
                "non_202": sum(1 for s in answers.statuses if s != 202),
                **percentiles(answers.latencies_s),
                "send_lag_p99_ms": percentiles(answers.lags_s)["p99_ms"],
                "cpu_s_per_item": meter.per_item(count),
            }
            run.tally(answers, "single", strict=False)
            steps.append(step)
            ok = step["non_202"] == 0 and step["p99_ms"] < P99_LIMIT_MS
            run.say(f"  {rate} msg/s: p99 {step['p99_ms']} ms, {step['non_202']} not 202, "
                    f"send lag p99 {step['send_lag_p99_ms']} ms: {'pass' if ok else 'FAIL'}")
            if ok:
                passed, best = rate, step
            else:
                failed = rate
            if not failed:  # doubling
                rate = rate * 2 if rate * 2 <= MAX_RATE else 0
            elif refinements < REFINEMENTS and failed - passed > FIRST_RATE // 4:
                rate, refinements = (passed + failed) // 2, refinements + 1
            else:
                rate = 0
            if rate:
                await asyncio.sleep(1.0)  # let the gateway and the database settle
    finally:
        client.close()
    await run.check_stored("single")
    figures: dict[str, Any] = {"msgs_per_s": passed}
    if best is not None:
        figures |= {k: best[k] for k in ("p50_ms", "p95_ms", "p99_ms", "send_lag_p99_ms",
                                        "cpu_s_per_item")}
    return figures | {"steps": steps}

