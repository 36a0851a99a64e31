"""Dry runs and idempotency (issue 8, point 4), over a real socket into a real database.

A dry run takes ``true``/``false``/``1``/``0`` only, stores nothing at all (not even a
refusal), is not counted, and answers what a real send would. An Idempotency-Key used
again with other bytes is ``idempotency_key_reused``; a reference used again with other
bytes is ``message_ref_reused`` whatever the key, unless the earlier message had every
item rejected (then the corrected message is taken)."""

from __future__ import annotations

import gzip
import re

import pytest

from tests.conftest import FIXTURES, bearer

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
OTHER_BYTES = BATCH.replace(b"Men's cotton T-shirt", b"Men's linen T-shirt")
OTHER_REF = OTHER_BYTES.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0099")
XML = {"Content-Type": "application/xml"}
TABLES = ("messages", "message_claims", "records", "items", "outbox")


def every_item_rejected(batch: bytes) -> bytes:
    """A wrong check digit in each of the batch's three item ids."""
    for good, bad in ((b"CP471820937GB", b"CP471820936GB"), (b"EE305614281GB", b"EE305614282GB"),
                      (b"RR629047155GB", b"RR629047154GB")):
        batch = batch.replace(good, bad)
    return batch


async def post(client, key: str, body: bytes, query: str = "", **headers: str):
    response = await client.post(
        f"/v1/messages{query}", data=body, headers=bearer(key, **XML, **headers)
    )
    return response.status, await response.json()


async def stored(pool) -> dict[str, int]:
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def counted(client, operator: str) -> float:
    """Every ``aedgw_*`` sample of the operator's messages and items on /metrics."""
    text = await (await client.get("/metrics")).text()
    pattern = re.compile(
        rf'^aedgw_(?:messages_total|items_total|item_errors_total|message_refusals_total|'
        rf'ingest_seconds_count)\{{[^}}]*operator="{operator}"[^}}]*\}} (\S+)$', re.M
    )
    return sum(float(value) for value in pattern.findall(text))


@pytest.mark.parametrize("value", ["banana", "yes", "2", "truee"])
async def test_a_dry_run_value_other_than_true_false_1_0_is_400(
    client, add_operator, pool, value
) -> None:
    key = await add_operator("alpha")
    status, body = await post(client, key, BATCH, f"?dry_run={value}")
    assert status == 400, body
    assert body["error"]["code"] == "bad_request"
    assert body["error"]["details"] == {"parameter": "dry_run"}
    assert set((await stored(pool)).values()) == {0}


@pytest.mark.parametrize(("value", "dry"), [("true", True), ("1", True), ("TRUE", True),
                                            ("false", False), ("0", False), ("", False)])
async def test_dry_run_takes_true_false_1_0(client, add_operator, pool, value, dry) -> None:
    key = await add_operator("alpha")
    status, receipt = await post(client, key, BATCH, f"?dry_run={value}")
    assert status == 202
    assert receipt.get("dry_run", False) is dry
    assert await pool.fetchval("SELECT count(*) FROM records") == (0 if dry else 3)


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"<ITMATT><unclosed>", {}, 400, "unparseable"),
        (BATCH.replace(b"<ItemId>", b"<Bogus/><ItemId>", 1), {}, 422, "schema_invalid"),
        (gzip.compress(BATCH)[:-8], {"Content-Encoding": "gzip"}, 400, "unparseable"),
    ],
    ids=["unparseable", "schema-invalid", "broken-gzip"],
)
async def test_a_refused_dry_run_stores_nothing_and_is_not_counted(
    client, add_operator, pool, body, headers, status, code
) -> None:
    key = await add_operator("alpha")
    before = await counted(client, "alpha")
    answer_status, answer = await post(client, key, body, "?dry_run=true", **headers)
    assert (answer_status, answer["error"]["code"]) == (status, code), answer
    assert answer["dry_run"] is True
    assert set((await stored(pool)).values()) == {0}  # a real send would be archived
    assert await counted(client, "alpha") == before


async def test_an_accepted_dry_run_is_not_counted(client, add_operator) -> None:
    key = await add_operator("alpha")
    before = await counted(client, "alpha")
    assert (await post(client, key, BATCH, "?dry_run=true"))[0] == 202
    assert await counted(client, "alpha") == before
    assert (await post(client, key, BATCH))[0] == 202
    assert await counted(client, "alpha") > before  # the real one is


async def test_a_dry_run_answers_what_a_resend_would(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    status, first = await post(client, key, BATCH)
    assert status == 202
    after_first = await stored(pool)
    # the same bytes again: the first receipt, 200
    assert await post(client, key, BATCH, "?dry_run=true") == (200, first)
    # other bytes under the used reference: 409, not archived on a dry run
    status, answer = await post(client, key, OTHER_BYTES, "?dry_run=true")
    assert (status, answer["error"]["code"]) == (409, "message_ref_reused")
    # other bytes under the key of the first: the key's 409
    await post(client, key, OTHER_REF, **{"Idempotency-Key": "k-dry"})
    status, answer = await post(client, key, BATCH.replace(b"0001", b"0098"), "?dry_run=1",
                                **{"Idempotency-Key": "k-dry"})
    assert (status, answer["error"]["code"]) == (409, "idempotency_key_reused")
    assert (await stored(pool))["messages"] == after_first["messages"] + 1


async def test_the_same_key_with_other_bytes_is_idempotency_key_reused(
    client, add_operator, pool
) -> None:
    key = await add_operator("alpha")
    assert (await post(client, key, BATCH, **{"Idempotency-Key": "k-1"}))[0] == 202
    status, answer = await post(client, key, OTHER_REF, **{"Idempotency-Key": "k-1"})
    assert status == 409
    assert answer["error"]["code"] == "idempotency_key_reused"
    assert await pool.fetchval("SELECT count(*) FROM records") == 3


async def test_a_used_reference_with_other_bytes_is_409_whatever_the_key(
    client, add_operator, pool
) -> None:
    key = await add_operator("alpha")
    status, first = await post(client, key, BATCH, **{"Idempotency-Key": "k-1"})
    assert status == 202
    status, answer = await post(client, key, OTHER_BYTES, **{"Idempotency-Key": "k-2"})
    assert (status, answer["error"]["code"]) == (409, "message_ref_reused")
    status, answer = await post(client, key, OTHER_BYTES)
    assert (status, answer["error"]["code"]) == (409, "message_ref_reused")
    # the same bytes under a new key are the same message
    assert await post(client, key, BATCH, **{"Idempotency-Key": "k-3"}) == (200, first)
    assert await pool.fetchval("SELECT count(*) FROM records") == 3


@pytest.mark.parametrize("keys", [(None, None), ("k-1", "k-2"), ("k-1", "k-1")],
                         ids=["no-keys", "new-key", "same-key"])
async def test_a_reference_whose_message_had_every_item_rejected_may_be_reused(
    client, add_operator, pool, keys
) -> None:
    key = await add_operator("alpha")
    first, second = ({"Idempotency-Key": k} if k else {} for k in keys)
    status, receipt = await post(client, key, every_item_rejected(BATCH), **first)
    assert (status, receipt["status"]) == (202, "rejected")
    status, receipt = await post(client, key, BATCH, **second)
    assert (status, receipt["status"]) == (202, "accepted"), receipt
    assert await pool.fetchval("SELECT count(*) FROM records") == 3
    # now that it accepted something, the reference is taken
    status, answer = await post(client, key, OTHER_BYTES)
    assert (status, answer["error"]["code"]) == (409, "message_ref_reused")
