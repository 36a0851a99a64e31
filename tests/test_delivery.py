"""Push delivery end to end: records ingested through POST /v1/messages, outbox workers on
a real database, and the fault-injecting receiver on a real socket."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import timedelta

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY

from gateway.config import Retry, Target
from gateway.delivery import outbox
from gateway.delivery.circuit import CircuitState
from gateway.delivery.outbox import Settlement, State
from gateway.delivery.receiver import Faults, Receiver, create_receiver_app
from gateway.delivery.worker import Delivery
from gateway.s10 import check_digit
from gateway.store import create_pool
from tests.conftest import FIXTURES, bearer

TEMPLATE = (FIXTURES / "alpha" / "v11-batch-3.xml").read_text()
TEMPLATE_IDS = ("CP471820937GB", "EE305614281GB", "RR629047155GB")
FAST = {"poll_s": 0.05, "housekeeping_s": 0.1, "lease_margin_s": 0.5}


def alpha_message(n: int, *, revised: bool = False) -> bytes:
    """v11-batch-3 with its own message reference and three item ids of its own;
    ``revised`` posts every item a day earlier, which makes a new revision of each."""
    text = TEMPLATE.replace("ALPHA-20261128-0001", f"ALPHA-DLV-{uuid.uuid4().hex[:12]}")
    if revised:
        text = text.replace("<PostingDate>2026-11-28T", "<PostingDate>2026-11-27T")
    for k, old in enumerate(TEMPLATE_IDS):
        text = text.replace(old, item_id(old[:2], n * 3 + k))
    return text.encode()


def item_id(prefix: str, serial: int) -> str:
    digits = f"{serial:08d}"
    return f"{prefix}{digits}{check_digit(digits)}GB"


def target(name: str, url: str, **changes: object) -> Target:
    """Short timeouts and backoffs, so that a test sees many attempts in little time."""
    fields: dict = {
        "batch_size": 5, "concurrency": 2, "timeout_s": 0.5, "circuit_failures": 3,
        "circuit_cooldown_s": 0.3,
        "retry": Retry(max_attempts=100, base_delay_s=0.02, max_delay_s=0.2),
    }
    return Target(name=name, url=url, **fields | changes)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Wait for ``check`` to hold; a generous bound, never a timing assertion."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def states(pool: asyncpg.Pool, name: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT state, count(*) AS n FROM outbox WHERE target = $1 GROUP BY state", name
    )
    return {r["state"]: r["n"] for r in rows}


def gauge(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    state = Receiver(seed=7)
    server = TestServer(create_receiver_app(state))
    await server.start_server()
    yield state, str(server.make_url("/"))
    await server.close()


@pytest.fixture
def name() -> str:
    """A target name of the test's own: metrics are process-wide."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def ingest(make_client, add_operator) -> Callable[..., Awaitable[int]]:
    """POST messages through a gateway that routes to the target but pushes nothing
    itself (concurrency 0): the tests run the workers. Returns the records accepted."""

    async def go(routed: Target, messages: Iterable[bytes]) -> int:
        client = await make_client([Target(name=routed.name, url=routed.url, concurrency=0)])
        key = await add_operator("alpha")
        accepted = 0
        for body in messages:
            response = await client.post(
                "/v1/messages", data=body,
                headers=bearer(key, **{"Content-Type": "application/xml"}),
            )
            assert response.status == 202, await response.text()
            accepted += (await response.json())["items"]["accepted"]
        return accepted

    return go


@pytest.fixture
async def deliver(database_url: str) -> AsyncIterator[Callable[..., Awaitable[Delivery]]]:
    """Start workers as another process would: their own pool, their own breaker."""
    started: list[tuple[Delivery, asyncpg.Pool]] = []

    async def start(*targets: Target, **options: float) -> Delivery:
        pool = await create_pool(database_url, max_size=8)
        delivery = Delivery.for_targets(pool, targets, **FAST | options)
        await delivery.start()
        started.append((delivery, pool))
        return delivery

    yield start
    for delivery, pool in started:
        await delivery.stop(grace_s=0)
        await pool.close()


def all_delivered(pool: asyncpg.Pool, name: str, expected: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await states(pool, name)) == {"delivered": expected}

    return check


async def test_every_record_arrives_despite_5xx_timeouts_and_drops(
    receiver, ingest, deliver, pool, name
) -> None:
    state, url = receiver
    state.faults = Faults(fail_rate=0.3, timeout_rate=0.1, drop_rate=0.1, hang_s=5)
    t = target(name, url)
    records = await ingest(t, (alpha_message(n) for n in range(8)))
    assert records == 24
    await deliver(t)
    await until(all_delivered(pool, name, records))
    assert state.outcomes["accepted"] >= 1
    assert state.outcomes["failed"] + state.outcomes["timeout"] + state.outcomes["dropped"] > 0
    assert len(state.records) == records
    sent = {(str(r["record_id"]), r["revision"]) for r in await pool.fetch(
        "SELECT o.record_id, o.revision FROM outbox o WHERE target = $1", name)}
    assert set(state.records) == sent
    assert gauge("aedgw_delivered_records_total", target=name) == records
    assert gauge("aedgw_delivery_attempts_total", target=name, outcome="server_error") > 0


async def test_a_gzip_target_gets_compressed_batches(
    receiver, ingest, deliver, pool, name
) -> None:
    state, url = receiver
    t = target(name, url, gzip=True)
    records = await ingest(t, (alpha_message(n) for n in range(4)))
    await deliver(t)
    await until(all_delivered(pool, name, records))
    assert len(state.records) == records
    assert state.encodings["gzip"] >= 1 and set(state.encodings) == {"gzip"}


@pytest.mark.parametrize("partial", [True, False], ids=["named", "bisected"])
async def test_poison_record_is_dead_lettered_alone(
    receiver, ingest, deliver, pool, name, partial
) -> None:
    state, url = receiver
    poison = item_id("EE", 3 * 3 + 1)  # the second item of message 3
    state.faults = Faults(reject={poison}, partial=partial)
    t = target(name, url, batch_size=8, concurrency=1)
    records = await ingest(t, (alpha_message(n) for n in range(6)))

    async def settled() -> bool:
        return await states(pool, name) == {"delivered": records - 1, "dead": 1}

    await deliver(t)
    await until(settled)
    dead = await pool.fetchrow(
        "SELECT item_id, error_code, http_status, last_error FROM outbox "
        "WHERE target = $1 AND state = 'dead'", name,
    )
    assert dead["item_id"] == poison
    assert dead["http_status"] == 422
    assert dead["error_code"] == ("rejected" if partial else "client_error")
    assert dead["last_error"]
    assert {r["item_id"] for r in state.records.values()} == {
        item_id(p, n * 3 + k) for n in range(6) for k, p in enumerate(("CP", "EE", "RR"))
    } - {poison}
    code = "rejected" if partial else "client_error"
    assert gauge("aedgw_dead_letters_total", target=name, code=code) == 1


async def test_backlog_waits_in_the_database_through_an_outage(
    receiver, ingest, deliver, pool, name
) -> None:
    state, url = receiver
    state.faults = Faults(fail_rate=1.0)
    t = target(name, url, circuit_failures=3, circuit_cooldown_s=0.4)
    records = await ingest(t, (alpha_message(n) for n in range(4)))
    delivery = await deliver(t)
    circuit = delivery.workers[0].circuit

    async def opened() -> bool:
        return gauge("aedgw_circuit_state", target=name) == CircuitState.OPEN

    await until(opened)
    # While open: no requests until the cool-down ends, then one probe of one record.
    requests = sum(state.outcomes.values())
    await asyncio.sleep(0.2)
    assert sum(state.outcomes.values()) <= requests + 1
    assert (await states(pool, name)).get("delivered", 0) == 0
    assert circuit.state in (CircuitState.OPEN, CircuitState.HALF_OPEN)

    await state_control(state, fail_rate=0.0)
    await until(all_delivered(pool, name, records))
    assert gauge("aedgw_circuit_state", target=name) == CircuitState.CLOSED
    assert len(state.records) == records


async def state_control(state: Receiver, **faults: object) -> None:
    state.faults.update(faults)


async def test_restart_mid_delivery_loses_nothing(receiver, ingest, deliver, pool, name) -> None:
    state, url = receiver
    state.faults = Faults(timeout_rate=1.0, hang_s=30)
    t = target(name, url, timeout_s=1.0)
    records = await ingest(t, (alpha_message(n) for n in range(4)))
    first = await deliver(t)

    async def in_flight() -> bool:
        return (await states(pool, name)).get("in_flight", 0) >= 2

    await until(in_flight)
    # A crash: the process and its connections are gone, so nothing is settled or handed
    # back (a graceful stop would hand the batches back to the queue).
    first.workers[0].pool.terminate()
    await first.stop(grace_s=0)
    assert (await states(pool, name)).get("in_flight", 0) >= 2
    state.faults.update({"timeout_rate": 0.0})
    await deliver(t)
    await until(all_delivered(pool, name, records))
    reaped = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE target = $1 AND error_code = 'lease_expired'", name
    )
    assert reaped >= 2
    assert len(state.records) == records


async def test_two_workers_never_send_the_same_row_at_once(
    receiver, ingest, deliver, pool, name
) -> None:
    state, url = receiver
    state.faults = Faults(fail_rate=0.3, dwell_s=0.02)
    t = target(name, url, batch_size=3, concurrency=3)
    records = await ingest(t, (alpha_message(n) for n in range(10)))
    await deliver(t)
    await deliver(t)  # a second "process": own pool, own breaker
    await until(all_delivered(pool, name, records))
    assert state.max_concurrent == 1
    assert state.outcomes["failed"] > 0
    # Nothing is kept on a 503, so every record was accepted exactly once.
    assert len(state.records) == records
    assert sum(state.deliveries.values()) == records


async def test_retry_schedule_survives_a_restart(receiver, ingest, deliver, pool, name) -> None:
    state, url = receiver
    state.faults = Faults(throttle_rate=1.0, retry_after_s=3)
    t = target(name, url, batch_size=10, concurrency=1)
    records = await ingest(t, [alpha_message(0)])
    first = await deliver(t)

    async def throttled() -> bool:
        return (await states(pool, name)).get("pending") == records and state.outcomes[
            "throttled"] == 1

    await until(throttled)
    await first.stop()
    wait = await pool.fetchval(
        "SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM outbox WHERE target = $1",
        name,
    )
    assert wait > 1.0, "Retry-After is kept in the row"
    state.faults.update({"throttle_rate": 0.0})
    await deliver(t)  # a new worker knows nothing of the 429 but the row's schedule
    await asyncio.sleep(0.5)
    assert sum(state.outcomes.values()) == 1
    await until(all_delivered(pool, name, records))
    row = await pool.fetchrow(
        "SELECT attempts, error_code, delivered_at >= next_attempt_at AS on_time "
        "FROM outbox WHERE target = $1 LIMIT 1", name,
    )
    assert (row["attempts"], row["error_code"], row["on_time"]) == (2, "throttled", True)


async def test_a_newer_revision_never_overtakes_one_in_flight(
    receiver, ingest, pool, name
) -> None:
    _, url = receiver
    t = target(name, url)
    await ingest(t, [alpha_message(0)])
    batch = await outbox.claim(pool, name, 10, timedelta(seconds=30))
    assert batch is not None and len(batch.rows) == 3
    # A retried batch keeps its id...
    retry = [Settlement(r.id, State.PENDING, batch.batch_id, error="x", code="timeout")
             for r in batch.rows]
    await outbox.settle(pool, batch, retry)
    again = await outbox.claim(pool, name, 10, timedelta(seconds=30))
    assert again is not None and again.batch_id == batch.batch_id
    assert {r.id for r in again.rows} == {r.id for r in batch.rows}

    await ingest(t, [alpha_message(0, revised=True)])  # revision 2 of the same three items
    assert await states(pool, name) == {"in_flight": 3, "pending": 3}
    assert await outbox.claim(pool, name, 10, timedelta(seconds=30)) is None, (
        "revision 2 waits while revision 1 is in flight"
    )
    settled = await outbox.settle(pool, again, retry)
    assert {s.state for s in settled} == {State.SUPERSEDED}
    latest = await outbox.claim(pool, name, 10, timedelta(seconds=30))
    assert latest is not None and {r.revision for r in latest.rows} == {2}
    assert latest.batch_id != batch.batch_id


async def test_part_of_a_retried_batch_goes_under_a_new_id(receiver, ingest, pool, name) -> None:
    _, url = receiver
    t = target(name, url)
    await ingest(t, [alpha_message(0)])
    lease = timedelta(seconds=30)
    batch = await outbox.claim(pool, name, 10, lease)
    assert batch is not None
    await outbox.settle(pool, batch, [
        Settlement(r.id, State.PENDING, batch.batch_id) for r in batch.rows
    ])
    probe = await outbox.claim(pool, name, 1, lease)  # a half-open breaker's probe
    assert probe is not None and len(probe.rows) == 1
    assert probe.batch_id != batch.batch_id, "the key never names other content"
    rest = await outbox.claim(pool, name, 10, lease)
    assert rest is not None and len(rest.rows) == 2 and rest.batch_id == batch.batch_id


async def test_a_replaced_pending_row_leaves_its_batch(receiver, ingest, pool, name) -> None:
    _, url = receiver
    t = target(name, url)
    await ingest(t, [alpha_message(0)])
    batch = await outbox.claim(pool, name, 10, timedelta(seconds=30))
    assert batch is not None
    await outbox.settle(pool, batch, [
        Settlement(r.id, State.PENDING, batch.batch_id, delay_s=60) for r in batch.rows
    ])
    await ingest(t, [alpha_message(0, revised=True)])
    rows = await pool.fetch("SELECT revision, batch_id FROM outbox WHERE target = $1", name)
    assert [(r["revision"], r["batch_id"]) for r in rows] == [(2, None)] * 3


async def test_serve_pushes_to_configured_targets_and_exports_metrics(
    receiver, make_client, add_operator, pool, name
) -> None:
    state, url = receiver
    client = await make_client([target(name, url, concurrency=1)])
    key = await add_operator("alpha")
    response = await client.post(
        "/v1/messages", data=alpha_message(0),
        headers=bearer(key, **{"Content-Type": "application/xml"}),
    )
    assert response.status == 202
    await until(all_delivered(pool, name, 3))
    assert len(state.records) == 3
    metrics = await (await client.get("/metrics")).text()
    for metric in ("aedgw_outbox_depth", "aedgw_outbox_oldest_pending_seconds",
                   "aedgw_delivery_attempts_total", "aedgw_circuit_state"):
        assert re.search(rf'^{metric}{{[^}}]*target="{name}"', metrics, re.MULTILINE), metric
    await client.close()  # stops the workers cleanly


def test_a_receiver_keeping_pairs_reads_only_the_envelopes() -> None:
    records = [{"record_id": f"r{n}", "canonical_version": "1", "revision": n % 3 + 1,
                "item_id": f"I{n}", "sender": {"name": 'say "record_id"'}} for n in range(5)]
    body = orjson.dumps({"records": records})
    pairs = [{"record_id": r["record_id"], "revision": r["revision"]} for r in records]
    assert Receiver(keep_records=False).read(body) == pairs, "the envelopes alone"
    assert Receiver(keep_records=True).read(body) == records
    shuffled = orjson.dumps({"records": [{"revision": 1, "record_id": "x"}, *records]})
    assert Receiver(keep_records=False).read(shuffled)[0] == {"revision": 1, "record_id": "x"}, (
        "a record whose envelope is elsewhere: the whole body is parsed"
    )
