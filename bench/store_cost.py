"""The store's CPU cost per item, Python and PostgreSQL apart (issue 9: "the store costs
about 133 µs of Python and 109 µs of PostgreSQL CPU per item").

Messages are translated first (not timed), then stored through ``store.store`` with no
HTTP in the way: the CPU time of this process while storing is the store's Python side
(group commit, amendment rules, serialising records and receipts, asyncpg encoding), and
the embedded server's CPU over the same time its PostgreSQL side.

    .venv/bin/python -m bench.store_cost [--items 20000] [--batch 1000] [--singles 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import asyncpg

from adapters.registry import default_registry
from bench.delivery import own_cpu_s, server_cpu_s
from gateway import audit, operators
from gateway.bench.messages import Alpha, Ids
from gateway.cli.database import migrated_pool
from gateway.document import parse
from gateway.embedded import embedded_server
from gateway.ingest import store
from gateway.ingest.adapt import Translation, translate
from gateway.operators import Profile

XML = "application/xml"


def prepared(
    raws: list[bytes], profile: Profile
) -> list[tuple[store.Arrival, Translation]]:
    adapters = default_registry().candidates(profile.formats)
    return [
        (
            store.Arrival(str(uuid.uuid4()), "alpha", datetime.now(UTC), raw,
                          sha256(raw).hexdigest(), XML),
            translate(parse(raw, XML), adapters),
        )
        for raw in raws
    ]


async def run(
    pool: asyncpg.Pool,
    profile: Profile,
    messages: list[tuple[store.Arrival, Translation]],
    concurrency: int,
    database_cpu: Callable[[], float],
) -> dict[str, float]:
    """Store ``messages``, ``concurrency`` at a time; CPU µs an item on each side."""
    items = sum(len(t.items) for _, t in messages)
    queue = list(reversed(messages))

    async def worker() -> None:
        while queue:
            arrival, translation = queue.pop()
            answer = await store.store(pool, arrival, translation, profile, [])
            assert answer.status == 202, answer.body

    before = (time.perf_counter(), own_cpu_s(), database_cpu())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, python, database = (
        b - a for a, b in zip(before, (time.perf_counter(), own_cpu_s(), database_cpu()),
                              strict=True)
    )
    return {
        "items": items,
        "items_per_s": round(items / wall),
        "python_us_per_item": round(python / items * 1e6, 1),
        "postgresql_us_per_item": round(database / items * 1e6, 1),
        "groups": store.writer_of(pool).groups,
    }


async def measure(url: str, args: argparse.Namespace, database_cpu: Callable[[], float]) -> None:
    pool = await migrated_pool(url, max_size=10)
    async with pool.acquire() as conn:
        profile = Profile("alpha", "alpha", tuple(default_registry().formats_of("alpha")))
        await operators.add(conn, profile, audit.Actor("bench"))
    alpha = Alpha(Ids("SC"))
    batches = prepared(alpha.messages(args.items, args.batch), profile)
    singles = prepared([alpha.message(1) for _ in range(args.singles)], profile)
    print(f"batch ({args.batch} items a message, 4 in flight):",
          await run(pool, profile, batches, 4, database_cpu))
    store.writer_of(pool).groups = 0
    print("single (1 item a message, 64 in flight):",
          await run(pool, profile, singles, 64, database_cpu))
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=4000)
    args = parser.parse_args()
    with (tempfile.TemporaryDirectory(prefix="aedgw-bench-") as tmp,
          embedded_server(Path(tmp) / "pg") as url):
        asyncio.run(measure(url, args, lambda: server_cpu_s(Path(tmp) / "pg")))


if __name__ == "__main__":
    main()
