"""ndjson: one large delta NDJSON file (50,000 lines) in one request, and the peak
resident memory of the gateway process while it takes it (the kernel's high-water mark,
reset just before the request)."""

from __future__ import annotations

from typing import Any

from gateway.bench.client import closed_loop
from gateway.bench.machine import peak_rss_mb, reset_peak_rss
from gateway.bench.messages import delta_file
from gateway.bench.run import Run


async def measure(run: Run) -> dict[str, Any]:
    lines = run.sizes.lines
    server = await run.gateway()
    body = delta_file(run.ids, lines)
    submission = run.submission(server, body, "application/x-ndjson")
    del body
    client = server.client(1)
    try:
        reset = reset_peak_rss(server.pid)
        meter = run.meter(server)
        answers = await closed_loop(client, [submission], 1)
        cpu = meter.per_item(lines)
    finally:
        client.close()
    accepted = run.tally(answers, "ndjson")
    await run.check_stored("ndjson")
    figures: dict[str, Any] = {
        "items": accepted,
        "bytes": len(submission),
        "items_per_s": round(accepted / answers.seconds),
        "peak_rss_mb": peak_rss_mb(server.pid),
        "seconds": round(answers.seconds, 2),
        "cpu_s_per_item": cpu,
    }
    if not reset:
        figures["peak_rss_since_start"] = True  # the kernel would not reset the mark
    return figures
