"""One gateway process or several: ingest and push through ``aedgw serve --workers N``.

    .venv/bin/python -m bench.scaling --workers 1 3 --items 60000

For each N, a fresh embedded PostgreSQL, ``aedgw serve --workers N`` in its own process
(pushing to ``aedgw receiver --ids-only`` in another), Alpha messages of ``--batch``
items POSTed ``--concurrency`` at a time; it times the ingest (items/s) and the time
until the receiver holds every record (end-to-end records/s), checks that nothing was
lost or sent twice, and splits the CPU time between the gateway processes, PostgreSQL
and the receiver. The figures in docs/scaling.md come from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson

from bench.delivery import cpu_s, free_port, receiver_process, server_cpu_s, wait_up
from gateway import audit, keys, operators
from gateway.bench.messages import Alpha, Ids
from gateway.cli.database import migrated_pool
from gateway.embedded import embedded_server
from gateway.keys import Scope
from gateway.operators import Profile


def process_tree_cpu_s(root: int) -> float:
    """CPU seconds of a process and its live descendants."""
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu_s(pid)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return total


@contextlib.contextmanager
def gateway_process(url: str, workers: int, receiver: str, tmp: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    target = {"name": "bench", "url": receiver, "batch_size": 500, "concurrency": 2}
    env |= {"AEDGW_DATABASE_URL": url, "AEDGW_LOG_LEVEL": "warning", "AEDGW_LOG_FORMAT": "json",
            "AEDGW_TARGETS": orjson.dumps([target]).decode()}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}",
         "--workers", str(workers)],
        env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(60)


async def ready(base: str, workers: int) -> None:
    """Until the port answers and every worker has had time to come up."""
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError("the gateway did not start")
    await asyncio.sleep(2.0 * workers)  # workers come up one after the other


async def run_one(url: str, args: argparse.Namespace, workers: int, pg_dir: Path) -> dict:
    pool = await migrated_pool(url)
    async with pool.acquire() as conn:
        await operators.add(
            conn, Profile("alpha", "Alpha Post", ("alpha-itmatt",)), audit.cli_actor()
        )
        _, key = await keys.issue(conn, Scope.OPERATOR, "alpha", audit.cli_actor())
    messages = Alpha(Ids("scaling")).messages(args.items, args.batch)
    with (tempfile.TemporaryDirectory() as tmp,
          receiver_process(free_port(), 0.0) as (receiver, receiver_pid),
          gateway_process(url, workers, receiver, Path(tmp)) as (base, gateway_pid)):
        await wait_up(receiver)
        await ready(base, workers)
        before = (process_tree_cpu_s(gateway_pid), server_cpu_s(pg_dir), cpu_s(receiver_pid))
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/xml"}
        queue = list(reversed(messages))
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session:

            async def sender() -> None:
                while queue:
                    body = queue.pop()
                    async with session.post(f"{base}/v1/messages", data=body,
                                            headers=headers) as response:
                        if response.status != 202:
                            raise RuntimeError(f"{response.status}: {await response.text()}")

            await asyncio.gather(*(sender() for _ in range(args.concurrency)))
            ingested = time.perf_counter() - started
            while True:
                async with session.get(f"{receiver}received?records=false") as response:
                    received = await response.json()
                if received["unique"] >= args.items:
                    break
                await asyncio.sleep(0.1)
            drained = time.perf_counter() - started
        after = (process_tree_cpu_s(gateway_pid), server_cpu_s(pg_dir), cpu_s(receiver_pid))
    stored = await pool.fetchval("SELECT count(*) FROM records")
    await pool.close()
    gateway, database, receiver_cpu = (b - a for a, b in zip(before, after, strict=True))
    total = gateway + database + receiver_cpu
    return {
        "workers": workers, "items": args.items, "stored": stored,
        "received": received["unique"], "duplicates": received["duplicates"],
        "ingest_items_per_s": round(args.items / ingested),
        "end_to_end_records_per_s": round(args.items / drained),
        "cpu_share": {"gateway": round(gateway / total, 2),
                      "postgres": round(database / total, 2),
                      "receiver": round(receiver_cpu / total, 2)},
        "cpu_us_per_item": round(1e6 * total / args.items),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--items", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=100, help="items per message")
    parser.add_argument("--concurrency", type=int, default=8, help="messages in flight")
    args = parser.parse_args()
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="aedgw-scaling-") as tmp:
            pg_dir = Path(tmp) / "pg"
            with embedded_server(pg_dir) as url:
                print(asyncio.run(run_one(url, args, workers, pg_dir)), flush=True)


if __name__ == "__main__":
    main()
