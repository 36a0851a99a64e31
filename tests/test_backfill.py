"""``aedgw targets backfill``: a target added after records were accepted gets them when
someone backfills it, within its routes, each item's latest revision once, paced and
audited; a rerun queues nothing."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson

from gateway import audit
from gateway.config import Target
from gateway.delivery.backfill import backfill
from gateway.delivery.pacing import RowBudget
from gateway.store import Q
from tests.conftest import FIXTURES, bearer
from tests.test_delivery import alpha_message
from tests.test_races import ITEM, add_record, blocked_on_a_lock

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()  # to US, DE and FR
XML = {"Content-Type": "application/xml"}
LATE = orjson.dumps([{"name": "late", "url": "http://127.0.0.1:9/",
                      "routes": {"destination_countries": ["US", "DE"]}}]).decode()


async def outbox(pool: asyncpg.Pool) -> list[tuple[str, str, int, str]]:
    rows = await pool.fetch(
        "SELECT target, item_id, revision, state FROM outbox ORDER BY target, item_id, id"
    )
    return [(r["target"], r["item_id"], r["revision"], r["state"]) for r in rows]


async def test_a_target_added_later_gets_the_earlier_records_once(
    client, add_operator, pool: asyncpg.Pool, database_url: str, cli
) -> None:
    key = await add_operator("alpha")
    response = await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))
    assert response.status == 202
    assert await outbox(pool) == [], "no target was configured when they were accepted"

    first = cli("targets", "backfill", "late", "--json", database_url=database_url,
                env={"AEDGW_TARGETS": LATE})
    assert first.returncode == 0, first.stderr
    assert orjson.loads(first.stdout) == {
        "examined": 3, "not_routed": 1, "queued": 2, "present": 0
    }
    assert await outbox(pool) == [
        ("late", "CP471820937GB", 1, "pending"),  # to US
        ("late", "EE305614281GB", 1, "pending"),  # to DE (FR is not in its routes)
    ]
    [entry] = await audit.entries(pool, action="targets.backfill")
    assert (entry["subject"], entry["details"]["queued"]) == ("late", 2)

    again = cli("targets", "backfill", "late", "--json", database_url=database_url,
                env={"AEDGW_TARGETS": LATE})
    assert orjson.loads(again.stdout)["queued"] == 0, "a rerun queues nothing"
    assert len(await outbox(pool)) == 2

    # Delivered, then the item changes while the target is still not configured for
    # ingest: the backfill queues the new revision only.
    await pool.execute("UPDATE outbox SET state = 'delivered'")
    update = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0002").replace(
        b"Men's cotton T-shirt", b"Men's linen T-shirt"
    )
    response = await client.post("/v1/messages", data=update, headers=bearer(key, **XML))
    assert (await response.json())["items"]["accepted"] == 1
    table = cli("targets", "backfill", "late", database_url=database_url,
                env={"AEDGW_TARGETS": LATE})
    assert table.stdout.startswith("queued 1 for late; 1 it had already, 1 its routes")
    assert await outbox(pool) == [
        ("late", "CP471820937GB", 1, "delivered"),
        ("late", "CP471820937GB", 2, "pending"),
        ("late", "EE305614281GB", 1, "delivered"),
    ]


async def test_since_and_operator_narrow_the_backfill(
    client, add_operator, pool: asyncpg.Pool, database_url: str, cli
) -> None:
    key = await add_operator("alpha")
    assert (await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))).status == 202
    env = {"AEDGW_TARGETS": "all=http://127.0.0.1:9/"}
    later = cli("targets", "backfill", "all", "--since", "2999-01-01", "--json",
                database_url=database_url, env=env)
    assert orjson.loads(later.stdout)["examined"] == 0
    other = cli("targets", "backfill", "all", "--operator", "beta", "--json",
                database_url=database_url, env=env)
    assert orjson.loads(other.stdout)["examined"] == 0
    mine = cli("targets", "backfill", "all", "--operator", "alpha", "--since", "2000-01-01",
               "--json", database_url=database_url, env=env)
    assert orjson.loads(mine.stdout)["queued"] == 3


async def test_backfill_is_paced_by_its_row_budget(
    client, add_operator, pool: asyncpg.Pool
) -> None:
    key = await add_operator("alpha")
    for n in range(3):
        response = await client.post(
            "/v1/messages", data=alpha_message(n), headers=bearer(key, **XML)
        )
        assert response.status == 202
    seen: list[int] = []
    done = await backfill(
        pool, Target(name="all", url="http://127.0.0.1:9/"), RowBudget(50.0, 2.0),
        audit.Actor("test"), progress=lambda d: seen.append(d.examined),
    )
    assert done.queued == 9
    steps = [b - a for a, b in zip([0, *seen], seen, strict=False)]
    assert max(steps) <= 2, "never more rows at once than the budget's burst"
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'targets.backfill'"
    ) == len(
        [s for s in steps if s]
    )


async def test_backfill_waits_for_an_ingest_committing_a_newer_revision(
    client, add_operator, pool: asyncpg.Pool, database_url: str
) -> None:
    """Forced: an ingest holds an item locked while it commits revision 2 and queues it;
    the backfill waits for it, then queues nothing older over it."""
    key = await add_operator("alpha")
    assert (await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))).status == 202
    target = Target(name="late", url="http://127.0.0.1:9/")
    ingest = await asyncpg.connect(database_url)
    try:
        committing = ingest.transaction()
        await committing.start()
        await ingest.fetch(Q.lock_items, ["alpha"], [ITEM])
        record_id = await add_record(ingest, 2)
        await ingest.execute(
            "UPDATE items SET revision = 2, record_id = $2 WHERE operator = 'alpha'"
            " AND item_id = $1", ITEM, record_id,
        )
        await ingest.execute(Q.insert_outbox, ["late"], ["alpha"], [ITEM], [record_id], [2], [100])
        filling = asyncio.ensure_future(
            backfill(pool, target, RowBudget(1000.0, 1000.0), audit.Actor("test"))
        )
        assert await blocked_on_a_lock(pool, "FOR SHARE OF i", filling)
        await committing.commit()
    finally:
        await ingest.close()
    done = await filling
    assert (done.queued, done.present) == (2, 1)
    assert await outbox(pool) == [
        ("late", "CP471820937GB", 2, "pending"),
        ("late", "EE305614281GB", 1, "pending"),
        ("late", "RR629047155GB", 1, "pending"),
    ]
