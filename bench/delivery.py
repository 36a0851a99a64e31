"""Delivery throughput: records/s pushed from the outbox to the fake receiver.

    .venv/bin/python bench/delivery.py --records 20000 --batch-size 500 --concurrency 2

Ingests ``--records`` items through the gateway (a target routed but not pushed from
that process), then starts outbox workers and times until every row is delivered. The
receiver runs in its own process (``aedgw receiver``) so that it does not share the
workers' core; PostgreSQL is embedded in a temporary directory unless
AEDGW_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from aiohttp import web

from gateway import keys, operators
from gateway.bench.messages import Alpha, Ids
from gateway.cli.database import migrated_pool
from gateway.config import Settings, Target
from gateway.delivery.worker import Delivery
from gateway.embedded import embedded_server
from gateway.http.app import create_app
from gateway.keys import Scope
from gateway.operators import Profile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def receiver_process(port: int, fail_rate: float) -> Iterator[str]:
    command = [sys.executable, "-m", "gateway", "receiver", "--port", str(port),
               "--fail-rate", str(fail_rate)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(10)


async def wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url + "received?records=false"):
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the receiver did not start")


async def ingest(url: str, target: Target, records: int) -> None:
    pool = await migrated_pool(url)
    async with pool.acquire() as conn:
        if await operators.get(conn, "alpha") is None:
            await operators.add(conn, Profile("alpha", "Alpha Post", ("alpha-itmatt",)))
        _, key = await keys.issue(conn, Scope.OPERATOR, "alpha")
    await pool.close()
    settings = Settings(log_format="json", log_level="warning", targets=[target])
    runner = web.AppRunner(create_app(settings, url), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/xml"}
    async with aiohttp.ClientSession() as session:
        for body in Alpha(Ids("delivery")).messages(records, 1000):
            async with session.post(
                f"http://127.0.0.1:{port}/v1/messages", data=body, headers=headers
            ) as response:
                assert response.status == 202, await response.text()
    await runner.cleanup()


async def measure(url: str, args: argparse.Namespace, receiver: str) -> dict[str, float]:
    routed = Target(name="bench", url=receiver, concurrency=0)
    await ingest(url, routed, args.records)
    await wait_up(receiver)
    pool = await migrated_pool(url, max_size=args.concurrency + 4)
    pushing = Target(name="bench", url=receiver, batch_size=args.batch_size,
                     concurrency=args.concurrency)
    delivery = Delivery.for_targets(pool, [pushing], poll_s=0.05)
    started = time.perf_counter()
    await delivery.start()
    while await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE target = 'bench' AND state <> 'delivered'"
    ):
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    await delivery.stop()
    await pool.close()
    async with (
        aiohttp.ClientSession() as session,
        session.get(receiver + "received?records=false") as response,
    ):
        received = await response.json()
    return {"records": args.records, "seconds": round(seconds, 2),
            "records_per_s": round(args.records / seconds),
            "received_unique": received["unique"], "duplicates": received["duplicates"],
            "requests": sum(received["requests"].values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    args = parser.parse_args()
    with receiver_process(free_port(), args.fail_rate) as receiver:
        if url := os.environ.get("AEDGW_DATABASE_URL"):
            result = asyncio.run(measure(url, args, receiver))
        else:
            with (tempfile.TemporaryDirectory(prefix="aedgw-bench-") as tmp,
                  embedded_server(Path(tmp) / "pg") as url):
                result = asyncio.run(measure(url, args, receiver))
    print(result)


if __name__ == "__main__":
    main()
