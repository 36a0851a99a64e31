"""Delivery throughput: records/s pushed from the outbox to a receiver in its own process.

    .venv/bin/python bench/delivery.py --records 200000 --batch-size 500 --concurrency 2

Ingests ``--records`` items through the gateway (a target routed but not pushed from
that process), then starts one process's outbox workers and times until every row is
delivered to ``aedgw receiver --ids-only`` (which keeps only the (record_id, revision)
pairs and counts duplicates). Besides records/s it prints the CPU time each party spent
per record (the gateway's workers, the receiver, and PostgreSQL when it is the embedded
server this script starts): figures that hold on a busy machine, where records/s do
not. AEDGW_DATABASE_URL set: that server instead (its CPU is not measured).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
from aiohttp import web

from gateway import audit, keys, operators
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
def receiver_process(port: int, fail_rate: float) -> Iterator[tuple[str, int]]:
    command = [sys.executable, "-m", "gateway", "receiver", "--port", str(port),
               "--fail-rate", str(fail_rate), "--ids-only"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}/", process.pid
    finally:
        process.terminate()
        process.wait(10)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_s(pg_dir: Path) -> float:
    """CPU seconds of an embedded PostgreSQL: the postmaster and its children."""
    postmaster = int((pg_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(postmaster):
                    children.append(int(entry.name))
    return cpu_s(postmaster) + sum(cpu_s(pid) for pid in children)


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
            await operators.add(
                conn, Profile("alpha", "Alpha Post", ("alpha-itmatt",)), audit.cli_actor()
            )
        _, key = await keys.issue(conn, Scope.OPERATOR, "alpha", audit.cli_actor())
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


async def measure(
    url: str, args: argparse.Namespace, receiver: tuple[str, int],
    database_cpu: Callable[[], float],
) -> dict[str, float]:
    receiver_url, receiver_pid = receiver
    routed = Target(name="bench", url=receiver_url, concurrency=0)
    await ingest(url, routed, args.records)
    await wait_up(receiver_url)
    pool = await migrated_pool(url, max_size=args.concurrency + 4)
    pushing = Target(name="bench", url=receiver_url, batch_size=args.batch_size,
                     concurrency=args.concurrency, gzip=args.gzip)
    delivery = Delivery.for_targets(pool, [pushing], poll_s=0.05)
    before = (own_cpu_s(), cpu_s(receiver_pid), database_cpu())
    started = time.perf_counter()
    await delivery.start()
    while await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE target = 'bench' AND state <> 'delivered'"
    ):
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    gateway, receiver_cpu, database = (
        b - a for a, b in zip(before, (own_cpu_s(), cpu_s(receiver_pid), database_cpu()),
                              strict=True)
    )
    await delivery.stop()
    await pool.close()
    async with (
        aiohttp.ClientSession() as session,
        session.get(receiver_url + "received?records=false") as response,
    ):
        received = await response.json()
    per_record = 1e6 / args.records
    return {"records": args.records, "seconds": round(seconds, 2),
            "records_per_s": round(args.records / seconds),
            "received_unique": received["unique"], "duplicates": received["duplicates"],
            "requests": sum(received["requests"].values()),
            "cpu_us_per_record": {"gateway": round(gateway * per_record),
                                  "receiver": round(receiver_cpu * per_record),
                                  "postgres": round(database * per_record)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--gzip", action="store_true", help="gzip every batch")
    args = parser.parse_args()
    with receiver_process(free_port(), args.fail_rate) as receiver:
        if url := os.environ.get("AEDGW_DATABASE_URL"):
            result = asyncio.run(measure(url, args, receiver, lambda: 0.0))
        else:
            with (tempfile.TemporaryDirectory(prefix="aedgw-bench-") as tmp,
                  embedded_server(Path(tmp) / "pg") as url):
                pg_dir = Path(tmp) / "pg"
                result = asyncio.run(
                    measure(url, args, receiver, lambda: server_cpu_s(pg_dir))
                )
    print(result)


if __name__ == "__main__":
    main()
