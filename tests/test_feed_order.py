"""The feed under concurrent writers: every committed record exactly once, none skipped,
nothing rolled back, in a stable order, although sequence values commit out of order.

Writers insert straight into ``records`` (the columns intake fills) on their own
connections, taking their transaction id first and inserting later, so that transaction
ids and sequence values disagree as they do when ingests of one item wait on each other.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterable

import asyncpg
import orjson

from gateway import feed
from tests.conftest import FIXTURES, bearer
from tests.test_feed import issue_key, read_feed

INSERT_RECORD = """
INSERT INTO records (record_id, operator, item_id, revision, function, message_id,
                     data_sha256, body)
VALUES ($1, 'alpha', $2, 1, 'ORIGINAL', $3, '', $4::bytea)
"""


async def add_message(pool: asyncpg.Pool) -> uuid.UUID:
    message_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO messages (message_id, operator, content_type, raw, raw_sha256,"
        " received_at, status, http_status, receipt)"
        " VALUES ($1, 'alpha', 'application/xml', '', '', now(), 'accepted', 202, '{}')",
        message_id,
    )
    return message_id


async def insert(conn: asyncpg.Connection, message_id: uuid.UUID, record_id: uuid.UUID) -> None:
    body = orjson.dumps({"record_id": str(record_id)})
    await conn.execute(INSERT_RECORD, record_id, f"I{record_id.hex[:12]}", message_id, body)


async def begin_with_xid(conn: asyncpg.Connection) -> asyncpg.transaction.Transaction:
    """A transaction that holds its id before it inserts anything."""
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute("SELECT pg_current_xact_id()")
    return transaction


async def positions(pool: asyncpg.Pool, ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    rows = await pool.fetch(
        "SELECT record_id::text, xid::text::bigint AS xid, seq FROM records"
        " WHERE record_id = ANY($1::uuid[])",
        list(ids),
    )
    return {r["record_id"]: (r["xid"], r["seq"]) for r in rows}


def ids_of(body: dict) -> list[str]:
    return [r["record_id"] for r in body["records"]]


async def test_an_older_transaction_committing_first_hides_no_newer_row(
    client, add_operator, pool, database_url
) -> None:
    await add_operator("alpha")
    key = await issue_key(pool)
    message_id = await add_message(pool)
    older, newer = [await asyncpg.connect(database_url) for _ in range(2)]
    try:
        old_tx = await begin_with_xid(older)
        new_tx = await begin_with_xid(newer)
        a, b = uuid.uuid4(), uuid.uuid4()
        await insert(newer, message_id, a)  # the smaller seq, in the newer transaction
        await insert(older, message_id, b)
        await old_tx.commit()
        _, first = await read_feed(client, key)
        assert ids_of(first) == [str(b)]  # final: below every running transaction
        await new_tx.commit()
        _, second = await read_feed(client, key, after=first["next"])
        assert ids_of(second) == [str(a)]  # a cursor on seq alone would have skipped it
        at = await positions(pool, [str(a), str(b)])
        assert at[str(a)][1] < at[str(b)][1]
    finally:
        await older.close()
        await newer.close()


async def test_rows_wait_until_every_older_transaction_ends(
    client, add_operator, pool, database_url
) -> None:
    await add_operator("alpha")
    key = await issue_key(pool)
    message_id = await add_message(pool)
    older, newer = [await asyncpg.connect(database_url) for _ in range(2)]
    try:
        old_tx = await begin_with_xid(older)
        a, b = uuid.uuid4(), uuid.uuid4()
        async with newer.transaction():
            await insert(newer, message_id, a)
        _, held = await read_feed(client, key)
        assert held == {"records": [], "next": feed.START.encode()}  # older may still write
        await insert(older, message_id, b)
        await old_tx.commit()
        _, body = await read_feed(client, key, after=held["next"])
        assert ids_of(body) == [str(b), str(a)]  # transaction order, then seq
    finally:
        await older.close()
        await newer.close()


WRITERS = 12
TRANSACTIONS_PER_WRITER = 40


async def test_concurrent_writers_are_read_exactly_once_none_skipped(
    client, add_operator, pool, database_url
) -> None:
    await add_operator("alpha")
    key = await issue_key(pool)
    message_id = await add_message(pool)
    rng = random.Random(4)
    committed: set[str] = set()
    rolled_back: set[str] = set()

    async def write(conn: asyncpg.Connection) -> None:
        for _ in range(TRANSACTIONS_PER_WRITER):
            transaction = await begin_with_xid(conn)
            ids = [uuid.uuid4() for _ in range(rng.randint(1, 4))]
            for record_id in ids:
                await asyncio.sleep(rng.random() * 0.004)
                await insert(conn, message_id, record_id)
            await asyncio.sleep(rng.random() * 0.004)
            if rng.random() < 0.1:
                await transaction.rollback()
                rolled_back.update(map(str, ids))
            else:
                await transaction.commit()
                committed.update(map(str, ids))

    pages: list[list[str]] = []
    cursor: dict[str, str] = {}

    async def read_once() -> int:
        status, body = await read_feed(client, key, limit=37, **cursor)
        assert status == 200
        pages.append(ids_of(body))
        cursor["after"] = body["next"]
        return len(body["records"])

    connections = [await asyncpg.connect(database_url) for _ in range(WRITERS)]
    try:
        writing = asyncio.gather(*(write(conn) for conn in connections))
        while not writing.done():
            await read_once()
            await asyncio.sleep(0.005)
        await writing
    finally:
        for conn in connections:
            await conn.close()
    for _ in range(200):  # drain: other transactions of the cluster may hold xmin briefly
        if await read_once() == 0 and sum(map(len, pages)) >= len(committed):
            break
        await asyncio.sleep(0.02)

    seen = [record_id for page in pages for record_id in page]
    assert len(seen) == len(set(seen)), "a record was read twice"
    assert set(seen) == committed, "a committed record was skipped"
    assert not set(seen) & rolled_back
    at = await positions(pool, seen)
    order = [at[record_id] for record_id in seen]
    assert order == sorted(order), "the feed order is not stable"
    # The case the test exists for: rows a cursor on seq alone would have skipped.
    highest, would_skip = 0, 0
    for page in pages:
        would_skip += sum(at[record_id][1] < highest for record_id in page)
        highest = max([highest, *(at[record_id][1] for record_id in page)])
    assert would_skip > 0


async def test_racing_amendments_of_one_item_come_in_revision_order(
    client, add_operator, pool
) -> None:
    """Messages amending one item serialise before they take a transaction id, so the
    feed (ordered by xid) never lists a later revision before an earlier one."""
    key = await add_operator("alpha")
    batch = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
    headers = bearer(key, **{"Content-Type": "application/xml"})
    assert (await client.post("/v1/messages", data=batch, headers=headers)).status == 202

    async def amend(n: int) -> int:
        body = batch.replace(b"ALPHA-20261128-0001", f"RACE-{n}".encode()).replace(
            b"Men's cotton T-shirt", f"Men's cotton T-shirt, lot {n}".encode()
        )
        return (await client.post("/v1/messages", data=body, headers=headers)).status

    assert set(await asyncio.gather(*(amend(n) for n in range(8)))) == {202}
    status, page = await read_feed(client, await issue_key(pool), limit=1000)
    assert status == 200
    revisions = [r["revision"] for r in page["records"] if r["item_id"] == "CP471820937GB"]
    assert revisions == list(range(1, 10))
