"""Targets of kind ``nats``: records published to JetStream, one message per revision.

The happy path runs against the NATS server with JetStream that this kind of machine
(and CI) runs on 127.0.0.1:4222; without it these tests fail, saying so. Fault tests
start their own ``nats-server -js`` on a free port and stop it mid-run.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import nats
import orjson
import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamInfo

from gateway import config
from gateway.config import ConfigError, Target
from gateway.delivery.circuit import CircuitState
from tests import test_delivery
from tests.test_delivery import alpha_message, gauge, states, target, until

# Records ingested through HTTP by a gateway that pushes nothing; workers run by the test.
ingest = test_delivery.ingest
deliver = test_delivery.deliver

SHARED_NATS = "nats://127.0.0.1:4222"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


@contextlib.asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    """A client of the test's own, for one look (the server may have restarted since)."""
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False,
                            max_reconnect_attempts=1, error_cb=_quiet)
    try:
        yield nc.jetstream(timeout=5)
    finally:
        await nc.close()


async def _quiet(_exc: Exception) -> None:
    """The failure is raised to the caller; nats-py need not log it as well."""


@dataclass
class Stream:
    """A stream of the test's own on some server, read back with a client of its own."""

    url: str
    name: str
    subject: str

    def target(self, name: str, **changes: object) -> Target:
        return target(name, self.url, kind="nats", subject=self.subject, stream=self.name,
                      **changes)

    async def info(self) -> StreamInfo:
        async with jetstream(self.url) as js:
            return await js.stream_info(self.name)

    async def delete(self) -> None:
        async with jetstream(self.url) as js:
            await js.delete_stream(self.name)

    async def messages(self) -> list[tuple[str, dict[str, str], bytes]]:
        """(subject, headers, body) of every message kept, in stream order."""
        async with jetstream(self.url) as js:
            info = await js.stream_info(self.name)
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(self.name, seq)
                found.append((msg.subject or "", dict(msg.headers or {}), msg.data or b""))
        return found


@contextlib.asynccontextmanager
async def stream_on(url: str) -> AsyncIterator[Stream]:
    tag = uuid.uuid4().hex[:10]
    async with jetstream(url):  # reachable, or fail here
        pass
    stream = Stream(url, f"AEDTEST_{tag}", f"aedtest.{tag}.{{destination}}.{{operator}}")
    try:
        yield stream
    finally:
        with contextlib.suppress(Exception):
            await stream.delete()


@pytest.fixture
async def shared_nats() -> AsyncIterator[Stream]:
    try:
        ctx = stream_on(SHARED_NATS)
        stream = await ctx.__aenter__()
    except (OSError, nats.errors.Error) as exc:
        pytest.fail(
            f"no NATS server with JetStream on {SHARED_NATS} ({type(exc).__name__}): start "
            "one with `nats-server -js -a 127.0.0.1 -p 4222` (this machine kind and CI run it)",
            pytrace=False,
        )
    try:
        yield stream
    finally:
        await ctx.__aexit__(None, None, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """A ``nats-server -js`` of the test's own, which it can stop and start again on the
    same port and store (so the stream and its duplicate window survive)."""

    def __init__(self, workdir: Path, **settings: object) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        workdir.mkdir()
        self.config = workdir / "nats.conf"
        lines = [f'listen: "127.0.0.1:{self.port}"',
                 f'jetstream {{ store_dir: "{workdir / "js"}" }}']
        lines += [f"{key}: {value}" for key, value in settings.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.1
            ):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            subprocess.run(["sleep", "0.05"], check=True)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[Callable[..., NatsServer]]:
    if not Path(NATS_SERVER).exists():
        pytest.fail(f"{NATS_SERVER} is missing: install the nats-server package", pytrace=False)
    servers: list[NatsServer] = []

    def make(**settings: object) -> NatsServer:
        server = NatsServer(tmp_path / f"nats{len(servers)}", **settings)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def name() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


async def sent_ids(pool, name: str) -> set[str]:
    rows = await pool.fetch("SELECT record_id, revision FROM outbox WHERE target = $1", name)
    return {f"{r['record_id']}:{r['revision']}" for r in rows}


async def test_each_record_revision_is_one_message_named_by_its_id(
    shared_nats, ingest, deliver, pool, name
) -> None:
    t = shared_nats.target(name)
    records = await ingest(t, (alpha_message(n) for n in range(4)))
    delivery = await deliver(t)
    await until(lambda: _all_delivered(pool, name, records))
    records += await ingest(t, [alpha_message(0, revised=True)])  # three revisions 2
    await until(lambda: _all_delivered(pool, name, records))

    messages = await shared_nats.messages()
    assert len(messages) == records
    assert {h["Nats-Msg-Id"] for _, h, _ in messages} == await sent_ids(pool, name)
    stored = {
        f"{r['record_id']}:{r['revision']}": (r["operator"], r["destination"], r["body"])
        for r in await pool.fetch(
            "SELECT record_id, revision, operator, destination, body FROM records")
    }
    tag = shared_nats.subject.split(".")[1]
    for subject, headers, body in messages:
        operator, destination, record = stored[headers["Nats-Msg-Id"]]
        assert subject == f"aedtest.{tag}.{destination}.{operator}"
        assert body == record  # the stored bytes, sent as they are
    info = await shared_nats.info()
    sender = delivery.workers[0].sender
    lease_s = delivery.workers[0].lease.total_seconds()
    assert info.config.duplicate_window >= lease_s + t.retry.max_delay_s
    assert info.config.duplicate_window == sender.duplicate_window_s
    assert info.config.subjects == [f"aedtest.{tag}.*.*"]


async def test_a_resend_within_the_window_is_stored_once(
    shared_nats, ingest, deliver, pool, name
) -> None:
    """A publish whose ack was lost is sent again: JetStream keeps the first only."""
    t = shared_nats.target(name)
    records = await ingest(t, (alpha_message(n) for n in range(2)))
    await deliver(t)
    await until(lambda: _all_delivered(pool, name, records))
    # As if every ack had been lost: the rows go back to the queue and are sent again.
    await pool.execute(
        "UPDATE outbox SET state = 'pending', delivered_at = NULL, batch_id = NULL "
        "WHERE target = $1", name,
    )
    await until(lambda: _all_delivered(pool, name, records))
    assert await pool.fetchval(
        "SELECT min(attempts) FROM outbox WHERE target = $1", name) == 2
    assert len(await shared_nats.messages()) == records


async def test_a_stream_deleted_under_the_gateway_is_made_again(
    shared_nats, ingest, deliver, pool, name
) -> None:
    t = shared_nats.target(name, batch_size=3, concurrency=1)
    first = await ingest(t, [alpha_message(0)])
    await deliver(t)
    await until(lambda: _all_delivered(pool, name, first))
    await shared_nats.delete()
    more = await ingest(t, [alpha_message(1), alpha_message(2)])
    await until(lambda: _all_delivered(pool, name, first + more))
    failed = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE target = $1 AND error_code = 'server_error' "
        "AND last_error LIKE '%no responders%'", name,
    )
    assert failed >= 1, "the first publish after the deletion met no responders"
    assert len(await shared_nats.messages()) == more


async def test_a_record_over_max_payload_is_a_dead_letter_alone(
    own_nats, ingest, deliver, pool, name
) -> None:
    # A small server limit, between the sizes of the records: some fit, some do not.
    server = own_nats(max_payload=2048)
    server.start()
    async with stream_on(server.url) as stream:
        t = stream.target(name, batch_size=10, concurrency=1)
        records = await ingest(t, (alpha_message(n) for n in range(3)))
        sizes = {
            str(r["record_id"]): r["n"] for r in await pool.fetch(
                "SELECT record_id, octet_length(body) AS n FROM records")
        }
        too_big = {rid for rid, n in sizes.items() if n > 2048}
        assert 0 < len(too_big) < records, sizes
        await deliver(t)

        async def settled() -> bool:
            return await states(pool, name) == {
                "delivered": records - len(too_big), "dead": len(too_big)}

        await until(settled)
        dead = await pool.fetch(
            "SELECT record_id, error_code, last_error, attempts FROM outbox "
            "WHERE target = $1 AND state = 'dead'", name,
        )
        assert {str(r["record_id"]) for r in dead} == too_big
        assert {r["error_code"] for r in dead} == {"too_large"}
        assert {r["attempts"] for r in dead} == {1}, "permanent: never retried"
        assert all("max_payload of 2048" in r["last_error"] for r in dead)
        assert len(await stream.messages()) == records - len(too_big)
        assert gauge("aedgw_dead_letters_total", target=name, code="too_large") == len(too_big)


async def test_a_server_stopped_mid_run_loses_nothing_and_stores_each_record_once(
    own_nats, ingest, deliver, pool, name
) -> None:
    server = own_nats()
    server.start()
    async with stream_on(server.url) as stream:
        t = stream.target(name, batch_size=5, concurrency=2, circuit_failures=3,
                          circuit_cooldown_s=0.3)
        records = await ingest(t, (alpha_message(n) for n in range(30)))
        # All but the first 10 rows held back until the server is stopped: the stop falls
        # mid-run however fast delivery is.
        later = "UPDATE outbox SET next_attempt_at = now() + $2::interval WHERE target = $1"
        await pool.execute(
            later + " AND id IN (SELECT id FROM outbox WHERE target = $1 ORDER BY id OFFSET 10)",
            name, timedelta(hours=1),
        )
        await deliver(t)

        async def some_delivered() -> bool:
            return (await states(pool, name)).get("delivered", 0) >= 10

        await until(some_delivered)
        server.stop()
        await pool.execute(later + " AND state = 'pending'", name, timedelta(0))

        async def failing() -> bool:
            return gauge("aedgw_circuit_state", target=name) == CircuitState.OPEN

        await until(failing)
        assert (await states(pool, name)).get("delivered", 0) < records
        server.start()
        await until(lambda: _all_delivered(pool, name, records), timeout=60)
        failures = await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE target = $1 "
            "AND error_code IN ('connection', 'timeout')", name,
        )
        assert failures > 0
        messages = await stream.messages()
        assert len(messages) == records
        assert {h["Nats-Msg-Id"] for _, h, _ in messages} == await sent_ids(pool, name)


async def test_a_server_down_at_start_is_a_transient_failure(
    own_nats, ingest, deliver, pool, name
) -> None:
    server = own_nats()  # not started yet
    t = target(name, server.url, kind="nats", subject="aed.{operator}", stream="AED",
               batch_size=10, concurrency=1)
    records = await ingest(t, [alpha_message(0)])
    await deliver(t)

    async def retried() -> bool:
        row = await pool.fetchrow(
            "SELECT max(attempts) AS n, min(error_code) AS code FROM outbox WHERE target = $1",
            name)
        return row["n"] >= 2 and row["code"] == "connection"

    await until(retried)
    server.start()
    await until(lambda: _all_delivered(pool, name, records))


async def _all_delivered(pool, name: str, expected: int) -> bool:
    return await states(pool, name) == {"delivered": expected}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subject": "aed.{item_id}", "stream": "AED"},
         "targets[0].subject = 'aed.{item_id}': may name only {operator} and {destination}"),
        ({"subject": "aed"}, "target js: a nats target needs a subject and a stream"),
        ({"subject": "aed", "stream": "A.B"},
         "targets[0].stream = 'A.B': is letters, digits, '_' or '-' (at most 64): "
         "a JetStream stream name"),
        ({"kind": "kafka"}, "targets[0].kind = 'kafka': is one of http, nats"),
    ],
)
def test_a_nats_target_is_checked_at_start(fields: dict, message: str) -> None:
    target = {"name": "js", "url": SHARED_NATS, "kind": "nats"} | fields
    with pytest.raises(ConfigError) as refused:
        config.load(None, {"AEDGW_TARGETS": orjson.dumps([target]).decode()})
    assert str(refused.value) == message
