"""Races answered, not 500: each interleaving is forced, not hoped for. A transaction
held open on a connection of the test plays the other party; the test waits until the
request under test is blocked on that transaction's lock before letting it commit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import asyncpg

from gateway import audit, keys
from gateway.config import Target
from gateway.delivery import outbox
from gateway.delivery.outbox import Settlement, State
from gateway.keys import Scope
from gateway.store import Q
from tests.conftest import FIXTURES, bearer

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
ITEM = "CP471820937GB"
XML = {"Content-Type": "application/xml"}


async def blocked_on_a_lock(pool: asyncpg.Pool, statement: str, task: asyncio.Task) -> bool:
    """Wait until a backend running ``statement`` waits for a lock (True), or ``task``
    ended without ever waiting (False)."""
    for _ in range(600):
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE $1",
            f"%{statement}%",
        )
        if waiting:
            return True
        if task.done():
            return False
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing ran {statement!r}")


async def in_background(coro: Awaitable[Any]) -> asyncio.Task:
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(0)
    return task


async def issue(pool: asyncpg.Pool, scope: Scope, subject: str) -> str:
    async with pool.acquire() as conn:
        return (await keys.issue(conn, scope, subject, audit.cli_actor()))[1]


async def add_record(conn: asyncpg.Connection, revision: int) -> uuid.UUID:
    """A revision of ITEM, as ingest writes it (in the caller's open transaction)."""
    record_id = uuid.uuid4()
    message_id = await conn.fetchval("SELECT message_id FROM messages LIMIT 1")
    await conn.execute(
        "INSERT INTO records (record_id, operator, item_id, revision, function, message_id,"
        " data_sha256, body) VALUES ($1, 'alpha', $2, $3, 'UPDATE', $4, '', '{}')",
        record_id, ITEM, revision, message_id,
    )
    return record_id


async def test_dead_letter_replay_racing_an_ingest_of_the_item_supersedes(
    make_client, add_operator, pool: asyncpg.Pool, database_url: str
) -> None:
    client = await make_client([Target(name="cbp", url="http://127.0.0.1:9/", concurrency=0)])
    response = await client.post(
        "/v1/messages", data=BATCH, headers=bearer(await add_operator("alpha"), **XML)
    )
    assert response.status == 202
    batch = await outbox.claim(pool, "cbp", 10, timedelta(seconds=30))
    await outbox.settle(pool, batch, [
        Settlement(r.id, State.DEAD, batch.batch_id, error="refused", code="rejected")
        for r in batch.rows
    ])
    admin = await issue(pool, Scope.ADMIN, "ops")

    ingest = await asyncpg.connect(database_url)
    try:
        # An ingest of revision 2 has queued it, and has not committed yet.
        writing = ingest.transaction()
        await writing.start()
        record_id = await add_record(ingest, 2)
        await ingest.execute(
            Q.insert_outbox, ["cbp"], ["alpha"], [ITEM], [record_id], [2], [100]
        )
        replay = await in_background(client.post(
            "/v1/admin/deadletters/replay", json={"target": "cbp"}, headers=bearer(admin)
        ))
        # The replay's UPDATE waits on the unique one-pending-row key the ingest holds.
        assert await blocked_on_a_lock(pool, "UPDATE outbox", replay)
        await writing.commit()
    finally:
        await ingest.close()
    answer = await replay
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {"replayed": 2, "superseded": 1, "remaining": 0}
    rows = await pool.fetch(
        "SELECT revision, state FROM outbox WHERE item_id = $1 ORDER BY id", ITEM
    )
    assert [(r["revision"], r["state"]) for r in rows] == [(1, "superseded"), (2, "pending")]


async def test_a_decision_posted_while_an_update_commits_is_marked_superseded(
    client, add_operator, pool: asyncpg.Pool, database_url: str
) -> None:
    key = await add_operator("alpha")
    assert (await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))).status == 202
    targeting = await issue(pool, Scope.TARGETING, "cbp")
    update = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0002").replace(
        b"Men's cotton T-shirt", b"Men's linen T-shirt"
    )

    blocker = await asyncpg.connect(database_url)
    try:
        # Hold revision 2's key, so that the real ingest of the update below stops after
        # locking the item and before it commits: the window the decision falls into.
        holding = blocker.transaction()
        await holding.start()
        await add_record(blocker, 2)
        ingest = await in_background(
            client.post("/v1/messages", data=update, headers=bearer(key, **XML))
        )
        # an update is stored the long way (ingest_store_group refuses an item seen
        # before), and waits in its second statement
        assert await blocked_on_a_lock(pool, "ingest_write_group", ingest)
        decision = await in_background(client.post(
            "/v1/decisions",
            json={"item_id": ITEM, "revision": 1, "code": "HOLD", "reference": "R-1"},
            headers=bearer(targeting),
        ))
        # The decision reads the item FOR SHARE: it waits for the ingest to commit.
        await blocked_on_a_lock(pool, "FOR SHARE", decision)
        await holding.rollback()
    finally:
        await blocker.close()
    assert (await ingest).status == 202
    answer = await decision
    body = await answer.json()
    assert answer.status == 201, body
    assert (body["revision"], body["superseded"]) == (1, True)
    latest = await pool.fetchval(
        "SELECT revision FROM items WHERE operator = 'alpha' AND item_id = $1", ITEM
    )
    assert latest == 2


async def test_an_ingest_that_loses_a_deadlock_on_the_outbox_is_run_again(
    make_client, add_operator, pool: asyncpg.Pool, database_url: str
) -> None:
    """Issue 8.2: rows going back to the queue (settle, reap, replay) and an ingest
    queueing newer revisions write the one-pending-row key of the same items. Forced
    here in opposite orders, the ingest (waiting first) loses the deadlock: it is run
    again once the other side commits, and answers 202, never a 500."""
    client = await make_client([Target(name="cbp", url="http://127.0.0.1:9/", concurrency=0)])
    key = await add_operator("alpha")
    assert (await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))).status == 202
    assert len((await outbox.claim(pool, "cbp", 10, timedelta(seconds=30))).rows) == 3
    first, last = "CP471820937GB", "RR629047155GB"  # the first and last in sorted order
    update = (
        BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0002")
        .replace(b"Men's cotton T-shirt", b"Men's linen T-shirt")
        .replace(b"Signed contract papers", b"Signed contract copies")
    )
    back = "UPDATE outbox SET state = 'pending' WHERE item_id = $1 AND state = 'in_flight'"
    settler = await asyncpg.connect(database_url)
    try:
        settling = settler.transaction()
        await settling.start()
        await settler.execute(back, last)  # holds the last item's pending key
        ingest = await in_background(
            client.post("/v1/messages", data=update, headers=bearer(key, **XML))
        )
        # The ingest queued the first item and waits for the last one's key ...
        assert await blocked_on_a_lock(pool, "ingest_write_group", ingest)
        # ... which closes the cycle: the ingest, waiting longer, is the one aborted.
        second = await in_background(settler.execute(back, first))
        await second
        await settling.commit()
    finally:
        await settler.close()
    answer = await ingest
    assert answer.status == 202, await answer.text()
    assert (await answer.json())["items"]["accepted"] == 2
    rows = await pool.fetch(
        "SELECT item_id, revision FROM outbox WHERE state = 'pending' ORDER BY item_id"
    )
    assert [(r["item_id"], r["revision"]) for r in rows] == [(first, 2), (last, 2)]
