"""The data lifecycle: ``aedgw purge [--dry-run]`` and the schedule in serve remove each
kind of data past its retention and nothing else: never a record a target has still to
receive, never an item's revision state before its time, never the audit trail. Old
data is made old by moving its timestamps back; the purge itself runs for real."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from gateway import audit, keys, retention
from gateway.config import Retention, Target
from gateway.feed import Cursor
from gateway.keys import Scope
from tests.conftest import FIXTURES, bearer

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
A, B, C = "CP471820937GB", "EE305614281GB", "RR629047155GB"  # BATCH's items
CHANGED_A = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0098").replace(
    b"Men's cotton T-shirt", b"Men's linen T-shirt"
)
GAMMA = (FIXTURES / "gamma" / "batch-3.json").read_bytes()
SCHEMA_INVALID = (FIXTURES / "alpha" / "v11-schema-invalid.xml").read_bytes()
XML = {"Content-Type": "application/xml"}
JSON = {"Content-Type": "application/json"}
# One row per batch, so that every loop runs more than once.
TIGHT = Retention(batch_size=1)


async def issue(pool: asyncpg.Pool, scope: Scope, subject: str) -> str:
    async with pool.acquire() as conn:
        _, key = await keys.issue(conn, scope, subject, audit.cli_actor())
    return key


async def submit(client, key: str, body: bytes, headers: dict[str, str] = XML) -> dict[str, Any]:
    response = await client.post("/v1/messages", data=body, headers=bearer(key, **headers))
    assert response.status in (202, 422), await response.text()
    return await response.json()


async def age(pool: asyncpg.Pool, message_id: str, days: int) -> None:
    """Move a message, its records and their items ``days`` into the past."""
    when = datetime.now(UTC) - timedelta(days=days)
    mid = uuid.UUID(message_id)
    await pool.execute("UPDATE messages SET received_at = $2 WHERE message_id = $1", mid, when)
    await pool.execute("UPDATE records SET created_at = $2 WHERE message_id = $1", mid, when)
    await pool.execute(
        "UPDATE items SET updated_at = $2 WHERE record_id IN"
        " (SELECT record_id FROM records WHERE message_id = $1)",
        mid,
        when,
    )


def days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def feed(client, key: str, after: str | None = None) -> tuple[int, Any]:
    params = {"limit": "1000"} | ({"after": after} if after else {})
    response = await client.get("/v1/records", params=params, headers=bearer(key))
    return response.status, await response.json()


def rows_of(report: retention.Report) -> dict[str, int]:
    return {kind.value: rows for kind, rows in report.rows.items()}


async def test_purge_removes_what_retention_says_and_keeps_the_rest(
    make_client, add_operator, pool
) -> None:
    client = await make_client(targets=[Target(name="cbp", url="http://127.0.0.1:9/")])
    alpha, gamma = await add_operator("alpha"), await add_operator("gamma")
    reader = await issue(pool, Scope.TARGETING, "cbp")

    old = await submit(client, alpha, BATCH)  # A1, B1, C1
    amended = await submit(client, alpha, CHANGED_A)  # A2 replaces A1's pending outbox row
    refused = await submit(client, alpha, SCHEMA_INVALID)  # archived, no record
    slow_cursor = Cursor(0, 0)  # a consumer that has read nothing yet
    fresh = await submit(client, gamma, GAMMA, JSON)
    for message, days in ((old, 200), (amended, 200), (refused, 500), (fresh, 40)):
        await age(pool, message["message_id"], days)
    # The app's rollup task ran at its start, when all data was today's, and took today
    # as the first day; data moved into the past is what only a test can make.
    await pool.execute("DELETE FROM rollup_progress")
    # Outbox: A2 and B1 delivered long ago; C1 never delivered (its target still waits);
    # one of gamma's rows a dead letter for 40 days.
    await pool.execute(
        "UPDATE outbox SET state = 'delivered', delivered_at = $1 WHERE item_id = ANY($2)",
        days_ago(199),
        [A, B],
    )
    dead_item = await pool.fetchval("SELECT item_id FROM outbox WHERE operator = 'gamma' LIMIT 1")
    await pool.execute(
        "UPDATE outbox SET state = 'dead', dead_at = $1 WHERE item_id = $2",
        days_ago(40),
        dead_item,
    )
    # Decisions: an old one on B1 (goes with it), a recent one on A2 (keeps A2).
    for item, code in ((B, "RELEASE"), (A, "HOLD")):
        response = await client.post(
            "/v1/decisions",
            json={"item_id": item, "code": code, "reference": f"R-{item}"},
            headers=bearer(reader),
        )
        assert response.status == 201
    await pool.execute("UPDATE decisions SET decided_at = $1 WHERE item_id = $2", days_ago(199), B)
    outcome_cursor = Cursor(0, 0).encode()
    # Consumers: one has read nothing yet, one everything.
    _, latest = await feed(client, reader)
    for name, cursor in (("slow", slow_cursor.encode()), ("fast", latest["next"])):
        response = await client.put(
            f"/v1/consumers/{name}", json={"cursor": cursor}, headers=bearer(reader)
        )
        assert response.status == 200

    dry = await retention.dry_run(pool, TIGHT)
    expected = {
        "raw": 4,  # every message is older than 30 days
        "personal": 4,  # A1, A2, B1, C1 are older than 90 days
        "delivered": 2,  # A2's and B1's rows
        "dead_letters": 1,
        "records": 2,  # A1 (nothing refers to it) and B1 (delivered, old decision)
        "items": 0,  # revision state is kept 400 days
        "messages": 1,  # the refused one: 500 days old, and no record refers to it
    }
    assert rows_of(dry) == expected
    assert [(loss.name, loss.records) for loss in dry.losses] == [("slow", 2)]

    done = await retention.purge(pool, TIGHT, audit.cli_actor())
    assert rows_of(done) == expected
    # The scorecard's daily rollups of the purged days were made final first, and stay.
    rolled_up = await pool.fetchval(
        "SELECT sum(records) FROM daily_rollups"
        " WHERE operator = 'alpha' AND final AND day < current_date - 100"
    )
    assert rolled_up == 4  # A1, B1, C1 and A2, two of them purged since
    assert rows_of(await retention.dry_run(pool, TIGHT)) == dict.fromkeys(expected, 0)

    # Raw bodies: blanked, with their hash, size and receipt kept.
    message = await pool.fetchrow(
        "SELECT raw, raw_bytes, raw_sha256, receipt FROM messages WHERE message_id = $1",
        uuid.UUID(old["message_id"]),
    )
    assert bytes(message["raw"]) == b"" and message["raw_bytes"] == len(BATCH)
    assert orjson.loads(message["receipt"]) == old
    assert not await pool.fetchval(
        "SELECT count(*) FROM messages WHERE message_id = $1", uuid.UUID(refused["message_id"])
    )

    # Records kept: A2 (recent decision), C1 (undelivered), gamma's; personal data gone
    # from the old ones, everything else intact.
    status, page = await feed(client, reader)
    assert status == 200
    kept = [(r["item_id"], r["revision"]) for r in page["records"]]
    assert kept[:2] == [(C, 1), (A, 2)] and len(kept) == 5
    a2 = page["records"][1]
    assert a2["sender"]["name"] is None and a2["addressee"]["address"]["lines"] == []
    assert a2["addressee"]["address"]["country"] == "US"
    assert a2["addressee"]["phone"] is None and a2["addressee"]["email"] is None
    assert a2["contents"][0]["description"] == "Men's linen T-shirt"
    assert all(r["sender"]["name"] for r in page["records"][2:]), "40 days: personal kept"

    # Cursors: the slow consumer's is gone (410), the fast one's reads on.
    assert (await feed(client, reader, slow_cursor.encode()))[0] == 410
    status, body = await feed(client, reader, slow_cursor.encode())
    assert body["error"]["code"] == "cursor_purged"
    assert (await feed(client, reader, latest["next"]))[0] == 200
    response = await client.get(
        "/v1/outcomes", params={"after": outcome_cursor}, headers=bearer(alpha)
    )
    assert response.status == 410, "B1's decision was purged from the outcomes feed"

    # Delivery state: settled rows and the dead letter gone, C1's pending row kept.
    states = await pool.fetch("SELECT item_id, state FROM outbox ORDER BY item_id")
    assert ("dead" not in {r["state"] for r in states}) and (C, "pending") in [
        (r["item_id"], r["state"]) for r in states
    ]

    # Revision state survives the records: A goes on at 3, B's identical resend is
    # unchanged, not a new revision 1.
    again = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0200").replace(
        b"Men's cotton T-shirt", b"Men's wool T-shirt"
    )
    receipt = await submit(client, alpha, again)
    assert receipt["items"]["accepted"] == 1 and receipt["items"]["unchanged"] == 2
    assert await pool.fetchval("SELECT revision FROM items WHERE item_id = $1", A) == 3

    # Every batch is in the audit trail.
    trail = await audit.entries(pool, action="purge", limit=1000)
    per_kind: dict[str, int] = {}
    for entry in trail:
        per_kind[entry["action"]] = per_kind.get(entry["action"], 0) + entry["details"]["rows"]
    assert per_kind == {f"purge.{k}": n for k, n in expected.items() if n}
    records_entry = next(e for e in trail if e["action"] == "purge.records")
    assert records_entry["details"]["consumers_losing_records"] == {"slow": 2}


async def test_items_are_forgotten_only_after_state_days(make_client, add_operator, pool):
    client = await make_client()
    alpha = await add_operator("alpha")
    first = await submit(client, alpha, BATCH)
    await age(pool, first["message_id"], 500)
    done = await retention.purge(pool, Retention(batch_size=2), audit.cli_actor())
    assert rows_of(done)["records"] == 3 and rows_of(done)["items"] == 3
    assert rows_of(done)["messages"] == 1
    assert not await pool.fetchval("SELECT count(*) FROM message_claims")
    # After 500 days the ids may be reused: a resend is a first sighting again.
    receipt = await submit(client, alpha, BATCH)
    assert receipt["items"]["accepted"] == 3
    assert await pool.fetchval("SELECT max(revision) FROM items") == 1


async def test_a_purge_batch_never_blocks_ingest(make_client, add_operator, pool) -> None:
    """While a purge batch holds its rows (its transaction still open), messages for new
    items and amendments of items whose old records it is deleting are stored."""
    client = await make_client()
    alpha = await add_operator("alpha")
    old = await submit(client, alpha, BATCH)
    await age(pool, old["message_id"], 200)
    cutoff = days_ago(180)
    async with pool.acquire() as conn, conn.transaction():
        for kind in (retention.Kind.RAW, retention.Kind.PERSONAL, retention.Kind.RECORDS):
            done, _ = await retention.BATCHES[kind](conn, cutoff, 100)
            assert done >= 1
        gamma = await add_operator("gamma")
        receipts = await asyncio.wait_for(
            asyncio.gather(submit(client, alpha, CHANGED_A), submit(client, gamma, GAMMA, JSON)),
            30,  # a batch that blocked ingest would hang here until the transaction ends
        )
        assert [r["items"]["accepted"] for r in receipts] == [1, 3]


async def test_one_purge_at_a_time(pool) -> None:
    async with retention._exclusive(pool):
        with pytest.raises(retention.PurgeRunning):
            await retention.purge(pool, TIGHT, audit.cli_actor())


async def test_serve_purges_on_its_schedule(make_client, add_operator, pool) -> None:
    client = await make_client(retention=Retention(every_s=0.2))
    old = await submit(client, await add_operator("alpha"), BATCH)
    await age(pool, old["message_id"], 200)
    for _ in range(300):
        trail = await audit.entries(pool, action="purge.raw")
        if trail:
            break
        await asyncio.sleep(0.1)
    assert trail and trail[0]["actor"].startswith("schedule:")


def test_blank_personal_keeps_everything_but_the_parties_personal_fields() -> None:
    record = orjson.loads((FIXTURES / "gamma" / "batch-3.expected.json").read_bytes())[
        "translation"
    ]["records"][0]
    blank = retention.blank_personal(record)
    for role in ("sender", "addressee"):
        party = blank[role]
        assert party["address"]["country"] == record[role]["address"]["country"]
        assert party["name"] is party["name_original"] is party["phone"] is None
        assert party["email"] is None and party["address"]["lines"] == []
        assert party["tax_ids"] == [] and party["address"]["city"] is None
        assert set(party) == set(record[role])
    others = {k: v for k, v in record.items() if k not in ("sender", "addressee")}
    assert {k: v for k, v in blank.items() if k in others} == others
    assert record["sender"]["name"] == "Zhang Wei", "the input is not changed"


def aedgw(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"AEDGW_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], env=env, capture_output=True, text=True
    )


async def test_the_purge_command(make_client, add_operator, pool, database_url) -> None:
    client = await make_client()
    old = await submit(client, await add_operator("alpha"), BATCH)
    await age(pool, old["message_id"], 200)
    dry = await asyncio.to_thread(aedgw, "purge", "--dry-run", "--json", database_url=database_url)
    assert dry.returncode == 0, dry.stderr
    report = orjson.loads(dry.stdout)
    assert report["dry_run"] is True
    assert {k["kind"]: k["rows"] for k in report["kinds"]}["records"] == 3
    table = await asyncio.to_thread(aedgw, "purge", database_url=database_url)
    assert table.returncode == 0, table.stderr
    assert "records" in table.stdout and "removed" in table.stderr
    assert not await pool.fetchval("SELECT count(*) FROM records")
    again = await asyncio.to_thread(aedgw, "purge", "--json", database_url=database_url)
    assert {k["kind"]: k["rows"] for k in orjson.loads(again.stdout)["kinds"]}["records"] == 0
    trail = await audit.entries(pool, action="purge.records")
    assert trail and trail[0]["actor"].startswith("cli:")
    wrong = await asyncio.to_thread(aedgw, "purge", "--days", "3", database_url=database_url)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


async def test_consumers_register_list_and_forget(client, pool) -> None:
    reader = await issue(pool, Scope.TARGETING, "cbp")
    admin = await issue(pool, Scope.ADMIN, "ops")
    operator = await issue(pool, Scope.OPERATOR, "alpha")
    cursor = Cursor(5, 7).encode()
    put = await client.put("/v1/consumers/cbp-1", json={"cursor": cursor}, headers=bearer(reader))
    assert put.status == 200
    assert (await put.json())["cursor"] == cursor
    for body in ({"cursor": "nope"}, {}, [], "x"):
        bad = await client.put("/v1/consumers/cbp-1", json=body, headers=bearer(reader))
        assert bad.status == 400
    bad_name = await client.put("/v1/consumers/-x", json={"cursor": cursor}, headers=bearer(reader))
    assert bad_name.status == 400
    assert (await client.get("/v1/consumers", headers=bearer(operator))).status == 403
    listed = await (await client.get("/v1/consumers", headers=bearer(admin))).json()
    assert [c["name"] for c in listed["consumers"]] == ["cbp-1"]
    assert (await client.delete("/v1/consumers/cbp-1", headers=bearer(reader))).status == 403
    assert (await client.delete("/v1/consumers/cbp-1", headers=bearer(admin))).status == 204
    assert (await client.delete("/v1/consumers/cbp-1", headers=bearer(admin))).status == 404
    assert (await audit.entries(pool, action="consumers.forget"))[0]["subject"] == "cbp-1"
