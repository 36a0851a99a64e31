"""Stored bytes (issue 9.3, 8.7): a record's canonical JSON and a message's receipt are
the bytes serialised once at ingest; a replay, the feed and the purge work on those bytes."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import orjson

from gateway.canonical import (
    RecordBodies,
    envelope_to_dict,
    format_time,
    item_to_dict,
    record_to_dict,
)
from gateway.embedded import create_database
from gateway.feed import decoded
from gateway.ingest.store import _record_ids
from gateway.store.migrate import migrate, migrations
from tests.conftest import bearer, with_database
from tests.test_canonical_schema import ENVELOPE, full_item
from tests.test_feed import BATCH, XML, issue_key


async def test_a_replay_answers_the_first_receipt_byte_for_byte(client, add_operator) -> None:
    key = await add_operator("alpha")
    first = await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))
    again = await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))
    assert (first.status, again.status) == (202, 200)
    assert await again.read() == await first.read()


async def test_the_feed_splices_the_stored_bytes_in_wire_order(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))
    stored = [r["body"] for r in await pool.fetch("SELECT body FROM records ORDER BY seq")]
    assert len(stored) == 3
    # serialised once in the canonical (wire) order: nothing left for the feed to reorder
    assert all(list(decoded(body)) == list(orjson.loads(body)) for body in stored)
    response = await client.get("/v1/records", headers=bearer(await issue_key(pool)))
    raw = await response.read()
    assert response.status == 200 and response.content_type == "application/json"
    cursor = orjson.loads(raw)["next"]
    assert raw == b'{"records":[' + b",".join(stored) + b'],"next":"' + cursor.encode() + b'"}'


def test_a_record_body_is_the_record_serialised() -> None:
    """The store joins a message's shared envelope fields, a record's own and its item's
    JSON: the bytes are those of ``record_to_dict``, whatever the received time's zone."""
    received = datetime(2026, 11, 28, 17, 2, 11, 250, tzinfo=timezone(timedelta(hours=8)))
    envelope = dataclasses.replace(ENVELOPE, received_at=received)
    item = full_item()
    record = {"record_id", "canonical_version", "revision", "function"}
    shared = {k: v for k, v in envelope_to_dict(envelope).items() if k not in record}
    bodies = RecordBodies(shared)
    body = bodies.body(envelope.record_id, envelope.revision, envelope.function, item_to_dict(item))
    assert body == orjson.dumps(record_to_dict(envelope, item))
    assert format_time(received) == "2026-11-28T09:02:11.000250Z"
    assert orjson.loads(body)["received_at"] == format_time(received)


def test_record_ids_are_distinct_version_4_uuids() -> None:
    ids = list(_record_ids(1000))
    parsed = [uuid.UUID(text) for text in ids]
    assert [str(u) for u in parsed] == ids and len(set(ids)) == 1000
    assert {(u.version, u.variant) for u in parsed} == {(4, uuid.RFC_4122)}


async def test_0007_is_applied_to_a_database_that_has_later_migrations(admin_url) -> None:
    """Stored bytes came after 0008-0011: a database migrated without 0007 gets it, and
    its jsonb bodies and receipts become the same JSON as bytes."""
    name = f"aedgw_test_{uuid.uuid4().hex[:12]}"
    await create_database(admin_url, name)
    conn = await asyncpg.connect(with_database(admin_url, name))
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in migrations():
            if migration.version != 7:
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
        message_id, record = uuid.uuid4(), {"record_id": "r", "items": {"received": 1}}
        await conn.execute(
            "INSERT INTO operators (code, name, formats) VALUES ('alpha', 'alpha', '{}')"
        )
        await conn.execute(
            "INSERT INTO messages (message_id, operator, content_type, raw, raw_sha256,"
            " received_at, status, http_status, receipt)"
            " VALUES ($1, 'alpha', 'application/xml', '', '', $2, 'accepted', 202, $3::jsonb)",
            message_id, datetime.now(UTC), orjson.dumps(record).decode(),
        )
        await conn.execute(
            "INSERT INTO records (record_id, operator, item_id, revision, function, message_id,"
            " data_sha256, body) VALUES ($1, 'alpha', 'I1', 1, 'ORIGINAL', $2, '', $3::jsonb)",
            uuid.uuid4(), message_id, orjson.dumps(record).decode(),
        )
        assert [m.version for m in await migrate(conn)] == [7]
        body = await conn.fetchval("SELECT body FROM records")
        receipt = await conn.fetchval("SELECT receipt FROM messages")
        assert orjson.loads(body) == orjson.loads(receipt) == record
    finally:
        await conn.close()
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
