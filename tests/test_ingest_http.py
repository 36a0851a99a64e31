"""POST /v1/messages over a real socket into a real database: auth, refusals, idempotency,
dry runs and receipts (the fixtures' own outputs are checked in test_fixtures.py)."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from datetime import timedelta
from hashlib import sha256

import pytest

from gateway import audit, keys, operators
from gateway.keys import Scope
from tests.conftest import FIXTURES, bearer

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
BAD_ITEM = (FIXTURES / "alpha" / "v11-one-bad-item.xml").read_bytes()
XML = {"Content-Type": "application/xml"}


async def post(client, key: str, body: bytes, **headers: str):
    response = await client.post("/v1/messages", data=body, headers=bearer(key, **XML, **headers))
    return response.status, await response.json()


async def count(pool, table: str) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {table}")  # table names are literals here


async def test_accepted_batch_is_stored_with_raw_bytes(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    status, receipt = await post(client, key, BATCH)
    assert status == 202
    assert receipt["status"] == "accepted"
    assert receipt["items"] == {"received": 3, "accepted": 3, "rejected": 0, "unchanged": 0}
    row = await pool.fetchrow(
        "SELECT raw, raw_sha256, status, message_ref FROM messages WHERE message_id = $1",
        uuid.UUID(receipt["message_id"]),
    )
    assert bytes(row["raw"]) == BATCH
    assert row["raw_sha256"] == sha256(BATCH).hexdigest()
    assert row["message_ref"] == "ALPHA-20261128-0001"
    assert await count(pool, "records") == 3


async def test_get_message_returns_the_receipt_to_its_operator_only(client, add_operator) -> None:
    key = await add_operator("alpha")
    other = await add_operator("beta")
    _, receipt = await post(client, key, BAD_ITEM)
    response = await client.get(f"/v1/messages/{receipt['message_id']}", headers=bearer(key))
    assert response.status == 200
    assert await response.json() == receipt
    response = await client.get(f"/v1/messages/{receipt['message_id']}", headers=bearer(other))
    assert response.status == 404
    response = await client.get("/v1/messages/not-a-uuid", headers=bearer(key))
    assert response.status == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Authorization": "Bearer aedgw_0000_notakeynotakeynotakeynotakeynotakey"}, 401),
        ({"Authorization": "Bearer garbage"}, 401),
    ],
)
async def test_missing_or_bad_key_is_401(client, pool, headers, status) -> None:
    response = await client.post("/v1/messages", data=BATCH, headers={**XML, **headers})
    assert response.status == status
    assert (await response.json())["error"]["code"] == "unauthorized"
    assert await count(pool, "messages") == 0


async def test_targeting_key_cannot_submit(client, pool) -> None:
    async with pool.acquire() as conn:
        _, key = await keys.issue(conn, Scope.TARGETING, "cbp", audit.cli_actor())
    status, body = await post(client, key, BATCH)
    assert status == 403
    assert body["error"]["code"] == "forbidden"


async def test_revoked_key_is_refused_at_once(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    assert (await post(client, key, BATCH))[0] == 202  # the key is now cached
    key_id = key.split("_")[1]
    async with pool.acquire() as conn:
        await keys.revoke(conn, key_id, audit.cli_actor())
    for _ in range(50):  # the NOTIFY reaches the server's listener asynchronously
        status, _ = await post(client, key, BAD_ITEM)
        if status == 401:
            break
        await asyncio.sleep(0.05)
    assert status == 401


async def test_rotated_key_overlaps_then_expires(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    key_id = key.split("_")[1]
    async with pool.acquire() as conn:
        _, new_key, old_expires = await keys.rotate(
            conn, key_id, timedelta(hours=1), audit.cli_actor()
        )
        assert old_expires > await conn.fetchval("SELECT now() + interval '59 minutes'")
    assert (await post(client, new_key, BATCH))[0] == 202
    assert (await post(client, key, BAD_ITEM))[0] == 202, "the old key works during the overlap"
    async with pool.acquire() as conn:
        # the overlap cut short: expired now
        await keys.rotate(conn, key_id, timedelta(0), audit.cli_actor())
    for _ in range(50):  # the NOTIFY reaches the server's listener asynchronously
        status, _ = await post(client, key, BATCH)
        if status == 401:
            break
        await asyncio.sleep(0.05)
    assert status == 401
    assert (await post(client, new_key, BATCH))[0] == 200


async def test_disabled_operator_is_refused(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    async with pool.acquire() as conn:
        await operators.disable(conn, "alpha", audit.cli_actor())
    for _ in range(50):
        status, _ = await post(client, key, BATCH)
        if status == 401:
            break
        await asyncio.sleep(0.05)
    assert status == 401


async def test_unsupported_media_type_is_415_and_not_archived(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    response = await client.post(
        "/v1/messages", data=BATCH, headers=bearer(key, **{"Content-Type": "text/plain"})
    )
    assert response.status == 415
    assert (await response.json())["error"]["code"] == "unsupported_media_type"
    assert await count(pool, "messages") == 0


async def test_body_over_limit_is_413(make_client, add_operator, pool) -> None:
    from gateway.config import Limits

    client = await make_client(limits=Limits(max_body_bytes=1000))
    key = await add_operator("alpha")
    status, body = await post(client, key, BATCH)
    assert status == 413
    assert body["error"]["code"] == "too_large"
    # a gzip bomb: small on the wire, over the limit once inflated
    status, body = await post(
        client, key, gzip.compress(b" " * 5000 + BATCH), **{"Content-Encoding": "gzip"}
    )
    assert status == 413
    assert await count(pool, "messages") == 0


async def test_gzip_body_is_accepted(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    status, receipt = await post(client, key, gzip.compress(BATCH), **{"Content-Encoding": "gzip"})
    assert status == 202
    raw = await pool.fetchval(
        "SELECT raw FROM messages WHERE message_id = $1", uuid.UUID(receipt["message_id"])
    )
    assert bytes(raw) == BATCH


async def test_unparseable_xml_is_400_with_position_and_archived(
    client, add_operator, pool
) -> None:
    key = await add_operator("alpha")
    broken = BATCH[:300]
    status, body = await post(client, key, broken)
    assert status == 400
    assert body["error"]["code"] == "unparseable"
    assert body["error"]["details"]["line"] >= 1
    assert body["error"]["details"]["column"] >= 1
    row = await pool.fetchrow(
        "SELECT status, http_status, raw FROM messages WHERE message_id = $1",
        uuid.UUID(body["message_id"]),
    )
    assert (row["status"], row["http_status"], bytes(row["raw"])) == ("rejected", 400, broken)


async def test_doctype_is_refused(client, add_operator) -> None:
    key = await add_operator("alpha")
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><ITMATT>&lol2;</ITMATT>'
    )
    status, body = await post(client, key, bomb)
    assert status == 400
    assert body["error"]["code"] == "doctype_forbidden"


async def test_json_to_an_xml_only_operator_is_422_format_unknown(client, add_operator) -> None:
    key = await add_operator("alpha")
    response = await client.post(
        "/v1/messages",
        data=b'{"a": 1}',
        headers=bearer(key, **{"Content-Type": "application/json"}),
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "format_unknown"


async def test_schema_invalid_is_422_with_paths_and_may_be_resent(
    client, add_operator, pool
) -> None:
    key = await add_operator("alpha")
    invalid = (FIXTURES / "alpha" / "v11-schema-invalid.xml").read_bytes()
    for _ in range(2):  # a whole-message failure does not claim the reference
        status, body = await post(client, key, invalid)
        assert status == 422
        assert body["error"]["code"] == "schema_invalid"
        assert body["error"]["details"][0]["path"].startswith("/ITMATT/Items/Item")
    assert await count(pool, "messages") == 2
    assert await count(pool, "records") == 0


async def test_partial_acceptance_rejects_the_bad_item_alone(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    status, receipt = await post(client, key, BAD_ITEM)
    assert status == 202
    assert receipt["status"] == "partially_accepted"
    assert receipt["items"]["accepted"] == 2
    [error] = receipt["errors"]
    assert (error["index"], error["code"], error["path"]) == (
        1,
        "s10_check_digit",
        "/ITMATT/Items/Item[2]/ItemId",
    )
    stored = await pool.fetch("SELECT item_id FROM records ORDER BY seq")
    assert error["item_id"] not in {r["item_id"] for r in stored}
    assert len(stored) == 2


async def test_all_or_nothing_profile_rejects_the_whole_message(client, add_operator, pool) -> None:
    key = await add_operator("alpha", all_or_nothing=True)
    status, body = await post(client, key, BAD_ITEM)
    assert status == 422
    assert body["error"]["code"] == "all_or_nothing"
    assert body["errors"][0]["code"] == "s10_check_digit"
    assert await count(pool, "records") == 0
    assert await count(pool, "message_claims") == 0


async def test_resend_returns_the_first_receipt_and_stores_nothing(
    client, add_operator, pool
) -> None:
    key = await add_operator("alpha")
    first_status, first = await post(client, key, BAD_ITEM)
    again_status, again = await post(client, key, BAD_ITEM)
    assert (first_status, again_status) == (202, 200)
    assert again == first
    assert await count(pool, "messages") == 1
    assert await count(pool, "records") == 2


async def test_racing_identical_submissions_store_once(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    results = await asyncio.gather(*(post(client, key, BATCH) for _ in range(8)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 7 + [202]
    assert len({body["message_id"] for _, body in results}) == 1
    assert await count(pool, "messages") == 1
    assert await count(pool, "records") == 3


async def test_same_ref_other_bytes_is_409(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    assert (await post(client, key, BATCH))[0] == 202
    changed = BATCH.replace(b"Men's cotton T-shirt", b"Men's linen T-shirt")
    status, body = await post(client, key, changed)
    assert status == 409
    assert body["error"]["code"] == "message_ref_reused"
    assert await count(pool, "records") == 3
    rejected = await pool.fetchval("SELECT count(*) FROM messages WHERE http_status = 409")
    assert rejected == 1


async def test_idempotency_key_dedupes_instead_of_the_reference(client, add_operator) -> None:
    key = await add_operator("alpha")
    first = await post(client, key, BATCH, **{"Idempotency-Key": "k-1"})
    again = await post(client, key, BATCH, **{"Idempotency-Key": "k-1"})
    assert (first[0], again[0]) == (202, 200)
    assert again[1]["message_id"] == first[1]["message_id"]


async def test_a_message_with_every_item_rejected_may_be_corrected(
    client, add_operator, pool
) -> None:
    key = await add_operator("alpha")
    all_bad = BATCH
    for good, bad in ((b"CP471820937GB", b"CP471820936GB"), (b"EE305614281GB", b"EE305614282GB"),
                      (b"RR629047155GB", b"RR629047154GB")):  # a wrong check digit in each
        all_bad = all_bad.replace(good, bad)
    assert all_bad.count(b"GB</ItemId>") == 3 and b"CP471820937GB" not in all_bad
    status, receipt = await post(client, key, all_bad)
    assert (status, receipt["status"]) == (202, "rejected")
    assert receipt["items"]["rejected"] == 3
    # nothing was accepted: the corrected message, same reference, is processed
    status, receipt = await post(client, key, BATCH)
    assert (status, receipt["status"]) == (202, "accepted")
    assert await count(pool, "records") == 3


async def test_dry_run_answers_the_receipt_and_stores_nothing(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    response = await client.post(
        "/v1/messages?dry_run=true", data=BAD_ITEM, headers=bearer(key, **XML)
    )
    receipt = await response.json()
    assert response.status == 202
    assert receipt["dry_run"] is True
    assert receipt["status"] == "partially_accepted"
    assert await count(pool, "messages") == 0
    assert await count(pool, "records") == 0
    assert await count(pool, "items") == 0


async def test_resent_item_with_identical_data_is_unchanged(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    await post(client, key, BATCH)
    new_ref = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0099")
    status, receipt = await post(client, key, new_ref)
    assert status == 202
    assert receipt["items"] == {"received": 3, "accepted": 0, "rejected": 0, "unchanged": 3}
    assert receipt["status"] == "accepted"
    assert await count(pool, "records") == 3


async def test_resent_item_with_changed_data_is_an_update(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    await post(client, key, BATCH)
    changed = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0098").replace(
        b"Men's cotton T-shirt", b"Men's linen T-shirt"
    )
    _, receipt = await post(client, key, changed)
    assert receipt["items"] == {"received": 3, "accepted": 1, "rejected": 0, "unchanged": 2}
    rows = await pool.fetch(
        "SELECT revision, function FROM records WHERE item_id = 'CP471820937GB' ORDER BY seq"
    )
    assert [(r["revision"], r["function"]) for r in rows] == [(1, "ORIGINAL"), (2, "UPDATE")]


async def test_accepted_items_get_outbox_rows_for_matching_targets(
    make_client, add_operator, pool
) -> None:
    from gateway.config import Target

    client = await make_client(
        targets=[
            Target(name="us", url="http://127.0.0.1:1/", routes={"destination_countries": ["US"]}),
            Target(name="all", url="http://127.0.0.1:1/"),
        ]
    )
    key = await add_operator("alpha")
    await post(client, key, BATCH)
    rows = await pool.fetch("SELECT target, count(*) AS n FROM outbox GROUP BY target")
    by_target = {r["target"]: r["n"] for r in rows}
    assert by_target["all"] == 3
    destinations = await pool.fetch("SELECT destination FROM records")
    assert by_target.get("us", 0) == sum(1 for r in destinations if r["destination"] == "US")


async def test_health_readiness_and_metrics(client, add_operator) -> None:
    key = await add_operator("alpha")
    await post(client, key, BAD_ITEM)
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'aedgw_messages_total{operator="alpha",status="partially_accepted"}' in metrics
    assert 'aedgw_item_errors_total{code="s10_check_digit",operator="alpha"}' in metrics
