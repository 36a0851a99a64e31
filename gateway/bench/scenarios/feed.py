"""feed: one targeting consumer paging 1,000 records at a time through every record in
the database (the deliver backlog), as JSON and as canonical XML.

The consumer reads each page as a real one would (orjson, lxml) to find the cursor, and
checks that every record revision came exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
from lxml import etree

from gateway import audit, keys
from gateway.bench.client import request
from gateway.bench.processes import Server
from gateway.bench.run import BenchFailure, Run, percentiles
from gateway.canonical_xml import NAMESPACE
from gateway.keys import Scope
from gateway.store import Q

PAGE = 1_000
Page = tuple[list[tuple[str, int]], str]


def json_page(body: bytes) -> Page:
    page = orjson.loads(body)
    return [(r["record_id"], r["revision"]) for r in page["records"]], page["next"]


def xml_page(body: bytes) -> Page:
    root = etree.fromstring(body)
    ids = [(r.findtext(f"{{{NAMESPACE}}}record_id"), int(r.findtext(f"{{{NAMESPACE}}}revision")))
           for r in root.iterchildren(f"{{{NAMESPACE}}}Record")]
    return ids, root.get("next")


FORMS: dict[str, tuple[str, Callable[[bytes], Page]]] = {
    "json": ("application/json", json_page),
    "xml": ("application/xml", xml_page),
}


async def measure(run: Run) -> dict[str, Any]:
    await run.ensure_backlog()
    server = await run.gateway()
    async with run.pool.acquire() as conn:
        _, key = await keys.issue(conn, Scope.TARGETING, "aedgw-bench", audit.cli_actor())
    total = await run.pool.fetchval(Q.bench_records_total)
    figures: dict[str, Any] = {"records": total}
    for form, (accept, read) in FORMS.items():
        figures[form] = await _page_through(run, server, key, accept, read, total, form)
    return figures


async def _page_through(run: Run, server: Server, key: str, accept: str,
                        read: Callable[[bytes], Page], total: int, form: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Accept": accept}
    client = server.client(1)
    seen: set[tuple[str, int]] = set()
    latencies, cursor, count = [], "", 0
    meter = run.meter(server, "consumer")
    started = time.perf_counter()
    try:
        while True:
            path = f"/v1/records?limit={PAGE}" + (f"&after={quote(cursor)}" if cursor else "")
            sent = time.perf_counter()
            status, body = await client.send(request("GET", path, server.host, headers))
            latencies.append(time.perf_counter() - sent)
            if status != 200:
                raise BenchFailure(f"feed ({form}): GET {path} answered {status}: {body[:300]!r}")
            ids, cursor = read(body)
            if not ids:
                break
            count += len(ids)
            seen.update(ids)
    finally:
        client.close()
    seconds = time.perf_counter() - started
    if count != total or len(seen) != total:
        raise BenchFailure(
            f"feed ({form}): NOT EXACTLY ONCE: {total} records stored, the feed gave "
            f"{count} entries of {len(seen)} distinct revisions"
        )
    return {
        "records_per_s": round(count / seconds),
        **percentiles(latencies),
        "cpu_s_per_item": meter.per_item(count),
    }
