"""``aedgw serve --workers 3`` as an operator runs it: three processes on one port, on
a real database, pushing to a receiver, under load; a worker killed and replaced; a
SIGTERM that stops them all after their in-flight requests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from gateway.bench.messages import Alpha, Ids
from gateway.delivery.receiver import Faults, Receiver, create_receiver_app
from tests.test_delivery import alpha_message, states, until
from tests.test_serve import free_port

WORKERS = 3


class Gateway:
    """``aedgw serve --workers N`` in its own process; its JSON log lines kept."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{self.port}",
             *args],
            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.lines: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with contextlib.suppress(orjson.JSONDecodeError):
                self.lines.append(orjson.loads(raw))

    def events(self, event: str) -> list[dict]:
        return [line for line in self.lines if line.get("event") == event]

    def worker_pids(self) -> set[int]:
        """The workers alive now, as the parent's log tells."""
        pids = {p for line in self.events("workers_started") for p in line["pids"]}
        for line in self.events("worker_restarted"):
            pids = (pids - {line["replaces"]}) | {line["pid"]}
        return pids

    async def wait_serving(self, count: int) -> None:
        """Until ``count`` workers (in all) have said they serve."""
        async with asyncio.timeout(120):
            while len(self.events("worker_serving")) < count:
                assert self.process.poll() is None, self.lines
                await asyncio.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(90)
        self._reader.join(10)
        return code


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by a parent that is gone) counts as stopped.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
            return False
    return True


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    state = Receiver(Faults(dwell_s=0.01), seed=3)
    server = TestServer(create_receiver_app(state))
    await server.start_server()
    yield state, str(server.make_url("/"))
    await server.close()


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def start(*args: str, targets: list[dict] | None = None) -> Gateway:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
        env |= {"AEDGW_DATABASE_URL": database_url, "AEDGW_LOG_FORMAT": "json",
                "AEDGW_DATA_DIR": str(tmp_path / "var")}
        if targets:
            env["AEDGW_TARGETS"] = orjson.dumps(targets).decode()
        gateway = Gateway(list(args), env, tmp_path)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        if gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait(30)
        for pid in gateway.worker_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def post_all(url: str, key: str, bodies: list[bytes], parallel: int) -> list[int]:
    """POST every body, ``parallel`` at a time, each on a connection of its own."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/xml"}
    gate = asyncio.Semaphore(parallel)
    connector = aiohttp.TCPConnector(limit=parallel, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(body: bytes) -> int:
            async with gate, session.post(f"{url}/v1/messages", data=body,
                                          headers=headers) as response:
                await response.read()
                return response.status

        return await asyncio.gather(*(post(b) for b in bodies))


def metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}{{([^}}]*)}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match[1] for k, v in labels.items()):
            total += float(match[2])
    return total


async def test_three_processes_under_load_send_each_record_once(
    gateway, receiver, add_operator, pool
) -> None:
    state, receiver_url = receiver
    name = "cbp"
    target = {"name": name, "url": receiver_url, "batch_size": 10, "concurrency": 2,
              "timeout_s": 20}
    gw = gateway("--workers", str(WORKERS), targets=[target])
    await gw.wait_serving(WORKERS)
    assert len(gw.worker_pids()) == WORKERS
    assert {line["loop"] for line in gw.events("worker_serving")} == {"uvloop"}
    listening = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
    )
    assert listening == WORKERS, "one LISTEN connection per process"
    key = await add_operator("alpha")
    messages = 120
    statuses = await post_all(gw.url, key, [alpha_message(n) for n in range(messages)], 12)
    assert statuses == [202] * messages
    records = messages * 3

    async def drained() -> bool:
        return await states(pool, name) == {"delivered": records}

    await until(drained, timeout=120)
    # Every process pushed from the same queue; none sent a record another one sent.
    assert state.summary()["unique"] == records
    assert sum(state.deliveries.values()) == records, "no record was sent twice"
    assert max(state.deliveries.values()) == 1

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.url}/metrics") as response,
    ):
        text = await response.text()
    assert metric_sum(text, "aedgw_messages_total", operator="alpha") == messages
    assert metric_sum(text, "aedgw_delivered_records_total", target=name) == records
    metrics_dir = Path(gw.events("workers_started")[0]["metrics_dir"])
    writers = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}
    assert len(writers & gw.worker_pids()) >= 2, "the load was shared between processes"
    assert gw.stop() == 0


async def test_a_dead_worker_is_replaced_and_sigterm_stops_every_process(
    gateway, add_operator, pool
) -> None:
    gw = gateway("--workers", str(WORKERS))
    await gw.wait_serving(WORKERS)
    victim = min(gw.worker_pids())
    os.kill(victim, signal.SIGKILL)
    async with asyncio.timeout(60):
        while not gw.events("worker_restarted"):
            await asyncio.sleep(0.2)
    assert gw.events("worker_died")[0]["pid"] == victim
    await gw.wait_serving(WORKERS + 1)
    pids = gw.worker_pids()
    assert victim not in pids and len(pids) == WORKERS

    # A large message in flight when SIGTERM comes gets its 202 before the workers exit.
    key = await add_operator("alpha")
    (big,) = Alpha(Ids("workers-stop")).messages(2000, 2000)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/xml"}
    async with aiohttp.ClientSession() as session:
        posted = asyncio.create_task(session.post(f"{gw.url}/v1/messages", data=big,
                                                  headers=headers))
        await asyncio.sleep(0.3)
        code = await asyncio.to_thread(gw.stop, signal.SIGTERM)
        response = await posted
        assert response.status == 202, await response.text()
        assert (await response.json())["items"]["accepted"] == 2000
    assert code == 0
    assert await pool.fetchval("SELECT count(*) FROM records") == 2000
    assert not [pid for pid in pids if alive(pid)]
    assert len(gw.events("worker_stopped")) >= WORKERS
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(f"{gw.url}/healthz"):
            pass


def test_workers_takes_a_number_or_auto(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--workers", "two"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "aedgw: configuration: --workers = 'two': a positive number, or auto"
    )


def test_a_port_in_use_is_one_line_before_any_database_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--workers", "2",
             "--listen", f"127.0.0.1:{port}"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"aedgw: configuration: cannot listen on 127.0.0.1:{port}: the port is in use; "
        "choose another with --listen HOST:PORT"
    )
    assert not (tmp_path / "var").exists(), "no database was started"
