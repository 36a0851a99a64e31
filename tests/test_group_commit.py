"""Group commit (issue 9.4): concurrent messages share a transaction; one item's
revisions stay in order on the feed, idempotency holds inside a group, and a bad
message fails alone. Real PostgreSQL, real HTTP where the path goes through it."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from hashlib import sha256

import asyncpg
import orjson
import pytest

from adapters.registry import default_registry
from gateway import operators
from gateway.bench.messages import Alpha, Ids
from gateway.config import Ingest
from gateway.document import parse
from gateway.http.state import POOL
from gateway.ingest import locks, store
from gateway.ingest.adapt import Translation, translate
from gateway.ingest.group import GroupSettings, GroupWriter
from tests.conftest import bearer
from tests.test_feed import BATCH, XML, issue_key
from tests.test_races import blocked_on_a_lock, in_background

ITEM = "CP471820937GB"


def amended(n: int) -> bytes:
    """BATCH under another reference with ITEM's description changed: a new revision."""
    return BATCH.replace(b"ALPHA-20261128-0001", f"ALPHA-G{n}".encode()).replace(
        b"Men's cotton T-shirt", f"Men's T-shirt, version {n}".encode()
    )


async def hold_item_locks(conn: asyncpg.Connection, item_id: str) -> None:
    """Take the advisory locks a group storing ``item_id`` takes, in ``conn``'s open
    transaction, so that such a group waits for it."""
    for space, lock, shared in zip(*locks.lock_plan({("alpha", item_id)}), strict=True):
        how = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await conn.execute(f"SELECT {how}($1, $2)", space, lock)


async def feed_revisions(client, pool: asyncpg.Pool, item_id: str) -> list[int]:
    response = await client.get(
        "/v1/records", params={"limit": "1000"}, headers=bearer(await issue_key(pool))
    )
    records = (await response.json())["records"]
    return [r["revision"] for r in records if r["item_id"] == item_id]


async def test_an_identical_pair_in_one_group_is_stored_once(make_client, add_operator, pool):
    client = await make_client(ingest=Ingest(group_window_ms=300))
    writer = store.writer_of(client.server.app[POOL])
    key = await add_operator("alpha")
    first, second = await asyncio.gather(
        client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML)),
        client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML)),
    )
    assert writer.groups == 1
    assert sorted([first.status, second.status]) == [200, 202]
    assert await first.read() == await second.read()  # the first receipt, byte for byte
    assert await pool.fetchval("SELECT count(*) FROM records") == 3
    assert await pool.fetchval("SELECT count(*) FROM messages") == 1


async def test_two_concurrent_groups_amending_one_item_keep_its_revisions_in_order(
    make_client, add_operator, pool, database_url
):
    # every message is a group of its own, started at once
    client = await make_client(ingest=Ingest(group_max_items=1))
    writer = store.writer_of(client.server.app[POOL])
    key = await add_operator("alpha")
    assert (await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))).status == 202
    blocker = await asyncpg.connect(database_url)
    try:
        # Hold ITEM's locks, so that both groups are running and waiting for them.
        holding = blocker.transaction()
        await holding.start()
        await hold_item_locks(blocker, ITEM)
        posts = [
            await in_background(
                client.post("/v1/messages", data=amended(n), headers=bearer(key, **XML))
            )
            for n in (1, 2)
        ]
        for _ in range(200):
            waiting = await pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if waiting == 2:
                break
            await asyncio.sleep(0.05)
        assert waiting == 2
        await holding.commit()
    finally:
        await blocker.close()
    answers = [await post for post in posts]
    assert [a.status for a in answers] == [202, 202]
    assert [(await a.json())["items"]["accepted"] for a in answers] == [1, 1]
    assert writer.groups == 3
    assert await feed_revisions(client, pool, ITEM) == [1, 2, 3]


async def posted_while_locked(
    client, pool: asyncpg.Pool, database_url: str, key: str, body: bytes, item_id: str,
    statement: str,
):
    """Post ``body`` while ``item_id``'s group locks are held elsewhere, check that the
    statement waiting for them is ``statement`` and that nothing was claimed meanwhile,
    then let it go: the answer."""
    blocker = await asyncpg.connect(database_url)
    try:
        holding = blocker.transaction()
        await holding.start()
        await hold_item_locks(blocker, item_id)
        post = await in_background(
            client.post("/v1/messages", data=body, headers=bearer(key, **XML))
        )
        assert await blocked_on_a_lock(pool, statement, post)
        assert await pool.fetchval("SELECT count(*) FROM message_claims") == 0
        await holding.commit()
    finally:
        await blocker.close()
    answer = await post
    assert answer.status == 202, await answer.text()
    return await answer.json()


async def test_a_group_of_new_messages_is_stored_by_one_call(
    make_client, add_operator, pool, database_url
):
    """First sightings go in one call, ingest_store_group, in a transaction of its own:
    with the item's lock held elsewhere, that call is what waits, and once the lock is
    released the message is stored whole. (An update is refused by that call and stored
    in two statements: tests/test_races.py finds it waiting in ingest_write_group.)"""
    client = await make_client()
    key = await add_operator("alpha")
    receipt = await posted_while_locked(
        client, pool, database_url, key, BATCH, ITEM, "ingest_store_group"
    )
    assert receipt["items"]["accepted"] == 3
    assert await pool.fetchval("SELECT count(*) FROM records") == 3


async def test_a_large_group_is_stored_the_long_way(make_client, add_operator, pool, database_url):
    """Above AT_ONCE_MAX_ITEMS a group skips the one call (it would save little, and an
    amending group would make its writes twice): its first statement is what waits."""
    client = await make_client()
    key = await add_operator("alpha")
    body = Alpha(Ids("LG")).message(store.AT_ONCE_MAX_ITEMS + 1)
    first = re.search(rb"<ItemId>(\w+)</ItemId>", body).group(1).decode()
    receipt = await posted_while_locked(
        client, pool, database_url, key, body, first, "ingest_begin_group"
    )
    assert receipt["items"]["accepted"] == store.AT_ONCE_MAX_ITEMS + 1


async def test_one_bad_message_in_a_group_fails_alone(add_operator, pool):
    await add_operator("alpha")
    profile = await operators.get(pool, "alpha")
    store.configure(pool, GroupSettings(window_s=0.3, max_items=10_000))
    writer = store.writer_of(pool)

    def message(raw: bytes) -> tuple[store.Arrival, Translation]:
        arrival = store.Arrival(
            message_id=str(uuid.uuid4()),
            operator="alpha",
            received_at=datetime.now(UTC),
            raw=raw,
            raw_sha256=sha256(raw).hexdigest(),
            content_type="application/xml",
        )
        adapters = default_registry().candidates(profile.formats)
        return arrival, translate(parse(raw, "application/xml"), adapters)

    good, bad, later = message(BATCH), message(amended(1)), message(amended(2))
    bad[1].items[1][1].item_id = "EE\x00305614281GB"  # no text column takes a NUL
    answers = await asyncio.gather(
        *(store.store(pool, a, t, profile, []) for a, t in (good, bad, later)),
        return_exceptions=True,
    )
    assert writer.groups == 1
    assert isinstance(answers[0], store.Answer) and answers[0].status == 202
    assert isinstance(answers[1], asyncpg.PostgresError)
    assert isinstance(answers[2], store.Answer) and answers[2].status == 202
    assert answers[2].body["items"] == {
        "received": 3, "accepted": 1, "rejected": 0, "unchanged": 2
    }
    rows = await pool.fetch("SELECT item_id, revision, message_id FROM records ORDER BY seq")
    assert [(r["item_id"], r["revision"]) for r in rows] == [
        ("CP471820937GB", 1), ("EE305614281GB", 1), ("RR629047155GB", 1), (ITEM, 2)
    ]
    assert {str(r["message_id"]) for r in rows} == {good[0].message_id, later[0].message_id}
    assert not await pool.fetchval(
        "SELECT count(*) FROM messages WHERE message_id = $1", uuid.UUID(bad[0].message_id)
    )
    receipt = await pool.fetchval(
        "SELECT receipt FROM messages WHERE message_id = $1", uuid.UUID(later[0].message_id)
    )
    assert receipt == answers[2].json() and orjson.loads(receipt) == answers[2].body


@pytest.mark.parametrize("items", [1, locks.FINE_MAX, locks.FINE_MAX + 1])
def test_a_group_holds_about_2000_item_locks_at_most(items):
    keys = {("alpha", f"CP{n:09d}GB") for n in range(items)}
    spaces, keys_, shared = locks.lock_plan(keys)
    assert len(keys_) <= 2 * locks.FINE_MAX
    if items > locks.FINE_MAX:
        assert not any(shared) and len(keys_) <= locks.COARSE_BUCKETS
    else:
        assert len([s for s in shared if not s]) == items  # one exclusive lock an item
    # buckets first, then items, each ascending: every transaction takes them in one order
    buckets = [lock for space, lock in zip(spaces, keys_, strict=True) if space == spaces[0]]
    fine = keys_[len(buckets):]
    assert buckets == sorted(set(buckets)) and fine == sorted(set(fine))
    assert (set(spaces[len(buckets):]) <= {spaces[-1]} and spaces[-1] != spaces[0]) or not fine


async def test_jobs_arriving_while_groups_run_wait_and_make_the_next_group_larger():
    """The writer alone (its run is a plain function here): with one group at a time,
    what arrives while it runs goes in the next group, split at max_items."""
    release = asyncio.Event()
    groups: list[list[int]] = []

    async def run(jobs):
        groups.append(list(jobs))
        await release.wait()
        return [job * 10 for job in jobs]

    writer = GroupWriter(run, GroupSettings(window_s=0, max_items=3, concurrency=1), bool)
    first = asyncio.ensure_future(writer.submit(0, 1))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(writer.submit(n, 1)) for n in range(1, 6)]
    await asyncio.sleep(0.01)
    assert groups == [[0]]  # the others wait for the one group allowed to run
    release.set()
    assert await asyncio.gather(first, *rest) == [0, 10, 20, 30, 40, 50]
    assert groups == [[0], [1, 2, 3], [4, 5]]
    assert writer.groups == 3


async def test_small_jobs_wait_for_the_group_that_was_not_full_while_full_groups_overlap():
    """One group that could still grow runs at a time, however many groups may run:
    small jobs arriving meanwhile wait for it and go together in the next group, while
    a group that cannot grow (a large message, or the small ones before it that it
    would not fit with) starts at once beside it."""
    release = asyncio.Event()
    groups: list[list[int]] = []

    async def run(jobs):
        groups.append(list(jobs))
        await release.wait()
        return jobs

    writer = GroupWriter(run, GroupSettings(window_s=0, max_items=10, concurrency=4), bool)
    first = asyncio.ensure_future(writer.submit(0, 1))
    await asyncio.sleep(0)
    small = [asyncio.ensure_future(writer.submit(n, 1)) for n in (1, 2, 3)]
    await asyncio.sleep(0.01)
    assert groups == [[0]]  # 1-3 wait for the group that was not full
    large = asyncio.ensure_future(writer.submit(4, 10))
    await asyncio.sleep(0.01)
    assert groups == [[0], [1, 2, 3], [4]]  # neither can grow now: both start
    release.set()
    assert await asyncio.gather(first, *small, large) == [0, 1, 2, 3, 4]
    assert writer.groups == 3


async def test_a_message_refused_for_one_claim_in_a_group_keeps_none_of_its_others(
    make_client, add_operator, pool
):
    """A message claims its reference and its Idempotency-Key. Refused on one of them
    (here inside a group, after the message holding it committed), it must not keep the
    other: sent again under a fresh reference or key, it is judged again."""
    client = await make_client(ingest=Ingest(group_window_ms=300))
    writer = store.writer_of(client.server.app[POOL])
    key = await add_operator("alpha")

    def post(body: bytes, idempotency_key: str | None = None):
        extra = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return client.post("/v1/messages", data=body, headers=bearer(key, **XML, **extra))

    # one reference, two contents, a key each: the later one is refused on the reference
    other_bytes = BATCH.replace(b"Men's cotton T-shirt", b"Men's linen T-shirt")
    by_key = dict(zip(("k-1", "k-2"), await asyncio.gather(
        post(BATCH, "k-1"), post(other_bytes, "k-2")), strict=True))
    # one key, two references: the later one is refused on the key
    by_ref = dict(zip((1, 2), await asyncio.gather(
        post(amended(1), "k-3"), post(amended(2), "k-3")), strict=True))
    assert writer.groups >= 2
    assert sorted(r.status for r in by_key.values()) == [202, 409]
    assert sorted(r.status for r in by_ref.values()) == [202, 409]
    refused_key = next(k for k, r in by_key.items() if r.status == 409)
    refused_ref = next(n for n, r in by_ref.items() if r.status == 409)
    assert (await by_key[refused_key].json())["error"]["code"] == "message_ref_reused"
    assert (await by_ref[refused_ref].json())["error"]["code"] == "idempotency_key_reused"
    # neither refused message kept its other claim: its key, its reference
    assert (await post(amended(3), refused_key)).status == 202
    assert (await post(amended(refused_ref))).status == 202
