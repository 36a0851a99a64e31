"""One bench run: its sizes, database, operator and key, the gateway it started, and
the exactly-once bookkeeping every scenario that stores items goes through."""

from __future__ import annotations

import contextlib
import math
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from lxml import etree

from gateway import audit, keys, operators
from gateway.bench import processes
from gateway.bench.client import Answers, closed_loop, request
from gateway.bench.machine import CpuMeter, own_cpu_s, postmaster_of, tree_cpu_s
from gateway.bench.messages import Alpha, Ids
from gateway.bench.processes import Server
from gateway.keys import Scope
from gateway.operators import Profile
from gateway.store import Q

TARGET = "bench"
"""The push target every bench gateway routes records to (pushed only by ``deliver``)."""
FORMATS = ("alpha-itmatt", "delta-ndjson")


class BenchFailure(Exception):
    """The run cannot be trusted (an item lost or stored twice, an unexpected answer);
    the message is the one line the bench prints before exiting non-zero."""


@dataclass(frozen=True)
class Sizes:
    items: int
    """Items of the floor, translate and batch scenarios."""
    batch: int
    """Items per message in floor, translate and batch."""
    concurrency: int
    """Batch messages in flight."""
    lines: int
    """Item lines of the ndjson file."""
    backlog: int
    """Records that deliver drains and feed pages through (topped up with batches)."""
    step_s: float
    """Seconds per rate step of the single scenario."""


FULL = Sizes(items=20_000, batch=1_000, concurrency=4, lines=50_000, backlog=200_000, step_s=10)
QUICK = Sizes(items=4_000, batch=1_000, concurrency=4, lines=10_000, backlog=20_000, step_s=2)


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds (nearest rank)."""
    ordered = sorted(latencies_s)
    if not ordered:
        return {}

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000, 2)

    return {"p50_ms": rank(0.50), "p95_ms": rank(0.95), "p99_ms": rank(0.99)}


async def median_seconds(work: Callable[[], Awaitable[object]], runs: int = 3) -> float:
    """One warm-up pass, then the median wall time of ``runs`` passes."""
    await work()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass
class Run:
    sizes: Sizes
    database_url: str
    pool: asyncpg.Pool
    config: Path | None
    operator: str
    key: str
    ids: Ids
    postmaster: int | None
    say: Callable[[str], None] = print
    """Progress for people (the harness sends it to stderr)."""
    serve_workers: bool = False
    """``aedgw serve`` takes ``--workers``: it is then always given, so that a setting
    or AEDGW_WORKERS cannot turn the one-process figures into several processes'."""
    accepted: int = 0
    """Items the gateway accepted in this run (from the receipts)."""
    figures: dict[str, float] = field(default_factory=dict)
    """Rates other scenarios compare against: ``floor_items_per_s``, ``parse_items_per_s``."""
    _gateway: contextlib.AsyncExitStack | None = None
    _server: Server | None = None

    @classmethod
    async def start(
        cls,
        sizes: Sizes,
        database_url: str,
        pool: asyncpg.Pool,
        config: Path | None,
        say: Callable[[str], None],
    ) -> Run:
        """A fresh operator for this run: every item and reference is new to the database,
        also on a database that earlier runs used."""
        tag = secrets.token_hex(3)
        operator = f"bench-{tag}"
        async with pool.acquire() as conn:
            actor = audit.cli_actor()
            await operators.add(conn, Profile(operator, "aedgw bench", FORMATS), actor)
            _, key = await keys.issue(conn, Scope.OPERATOR, operator, actor)
            backend = await conn.fetchval(Q.bench_backend_pid)
        return cls(sizes, database_url, pool, config, operator, key, Ids(tag),
                   postmaster_of(backend), say, processes.serve_has_workers())

    @property
    def alpha(self) -> Alpha:
        return Alpha(self.ids)

    def serve(self, push: str | None = None, workers: int = 1
              ) -> contextlib.AbstractAsyncContextManager[Server]:
        """A gateway routing every record to the bench target, pushing to ``push`` (a
        receiver's URL) when given, else only routing (another process would push)."""
        target: dict[str, Any] = {"name": TARGET, "url": push or "http://127.0.0.1:9/",
                                  "batch_size": 500, "concurrency": 2 if push else 0}
        return processes.serve(self.database_url, self.config, [target],
                               workers if self.serve_workers else None)

    async def gateway(self) -> Server:
        """The routing-only gateway the ingest scenarios share, started on first use."""
        if self._server is None:
            self._gateway = contextlib.AsyncExitStack()
            self._server = await self._gateway.enter_async_context(self.serve())
        return self._server

    async def stop_gateway(self) -> None:
        if self._gateway is not None:
            await self._gateway.aclose()
        self._gateway = self._server = None

    def meter(self, server: Server, third: str = "load_generator",
              third_cpu: Callable[[], float] = own_cpu_s) -> CpuMeter:
        """CPU of the gateway, the database (when it runs here) and the third process."""
        sources = {"gateway": lambda: tree_cpu_s(server.pid)}
        if self.postmaster is not None:
            postmaster = self.postmaster
            sources["database"] = lambda: tree_cpu_s(postmaster)
        sources[third] = third_cpu
        return CpuMeter(sources)

    def submission(self, server: Server, body: bytes,
                   content_type: str = "application/xml") -> bytes:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": content_type}
        return request("POST", "/v1/messages", server.host, headers, body)

    def tally(self, answers: Answers, where: str, *, strict: bool = True) -> int:
        """Count the items the receipts accepted; with ``strict`` every answer must be a
        202 accepting every item (the bench sends only valid, fresh messages)."""
        accepted = 0
        for status, body in zip(answers.statuses, answers.bodies, strict=True):
            if status == 202:
                items = orjson.loads(body)["items"]
                accepted += items["accepted"]
                if strict and items["accepted"] != items["received"]:
                    raise BenchFailure(f"{where}: items rejected: {body[:300]!r}")
            elif strict:
                raise BenchFailure(f"{where}: the gateway answered {status}: {body[:300]!r}")
        self.accepted += accepted
        return accepted

    async def check_stored(self, where: str) -> None:
        """Every item accepted so far is stored exactly once (count by operator + item id)."""
        row = await self.pool.fetchrow(Q.bench_stored, self.operator)
        if not row["rows"] == row["items"] == self.accepted:
            raise BenchFailure(
                f"{where}: NOT EXACTLY ONCE: the gateway accepted {self.accepted} items, "
                f"the database holds {row['items']} of them in {row['rows']} records"
            )

    async def ensure_backlog(self) -> int:
        """Top the run's records up to ``sizes.backlog`` with batch messages."""
        row = await self.pool.fetchrow(Q.bench_stored, self.operator)
        missing = self.sizes.backlog - row["rows"]
        if missing > 0:
            self.say(f"  storing {missing} more records for the backlog …")
            server = await self.gateway()
            messages = self.alpha.messages(missing, self.sizes.batch)
            client = server.client(self.sizes.concurrency)
            try:
                answers = await closed_loop(
                    client, (self.submission(server, m) for m in messages),
                    self.sizes.concurrency,
                )
            finally:
                client.close()
            self.tally(answers, "backlog")
            await self.check_stored("backlog")
        return max(self.sizes.backlog, row["rows"])

    async def parse_rate(self, messages: list[bytes], items: int) -> float:
        """lxml's parse rate on these messages, items/s (measured once a run): the floor
        that translation is compared with."""
        if "parse_items_per_s" not in self.figures:

            async def parse() -> None:
                for message in messages:
                    etree.fromstring(message)

            self.figures["parse_items_per_s"] = items / await median_seconds(parse)
        return self.figures["parse_items_per_s"]
