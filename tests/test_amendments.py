"""Revisions and cancellations over real HTTP into the real database (DOMAIN.md,
"Amendments"): epsilon v2's explicit functions, and implicit updates for the others."""

from __future__ import annotations

import copy

import orjson
from lxml import etree

from gateway.config import Target
from tests.conftest import FIXTURES, bearer

EPS = "urn:epsilon:aed:2"
TEMPLATE = etree.parse(str(FIXTURES / "epsilon" / "v2-update-cancel.xml"))
ITEM = "CP261128315TR"


def epsilon(ref: str, *items: tuple[str, int, str]) -> bytes:
    """An epsilon v2 message of (function, revision, goods text) items of one parcel."""
    root = copy.deepcopy(TEMPLATE.getroot())
    submit = root.find(f".//{{{EPS}}}SubmitItems")
    submit.set("batchRef", ref)
    template = submit.find(f"{{{EPS}}}Item")
    for old in submit.findall(f"{{{EPS}}}Item"):
        submit.remove(old)
    for function, revision, text in items:
        item = copy.deepcopy(template)
        item.set("function", function)
        item.set("revision", str(revision))
        item.find(f".//{{{EPS}}}Text").text = text
        submit.append(item)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def send(client, key: str, body: bytes) -> dict:
    response = await client.post(
        "/v1/messages", data=body, headers=bearer(key, **{"Content-Type": "text/xml"})
    )
    assert response.status == 202, await response.text()
    return await response.json()


def codes(receipt: dict) -> list[str]:
    return [e["code"] for e in receipt["errors"]]


async def revisions(pool) -> list[tuple[int, str]]:
    rows = await pool.fetch(
        "SELECT revision, function FROM records WHERE item_id = $1 ORDER BY revision", ITEM
    )
    return [(r["revision"], r["function"]) for r in rows]


async def test_update_and_cancel_make_revisions_and_are_forwarded(
    make_client, add_operator, pool
) -> None:
    client = await make_client(targets=[Target(name="t", url="http://127.0.0.1:9/")])
    key = await add_operator("epsilon")
    assert codes(await send(client, key, epsilon("E1", ("ORIGINAL", 1, "Tablecloth")))) == []
    receipt = await send(client, key, epsilon("E2", ("UPDATE", 3, "Linen tablecloth")))
    assert receipt["items"]["accepted"] == 1
    receipt = await send(client, key, epsilon("E3", ("CANCEL", 4, "Linen tablecloth")))
    assert receipt["items"]["accepted"] == 1
    assert await revisions(pool) == [(1, "ORIGINAL"), (3, "UPDATE"), (4, "CANCEL")]
    # one live outbox row per (target, item): the cancellation replaced the pending update
    pending = await pool.fetch("SELECT revision FROM outbox WHERE state = 'pending'")
    assert [r["revision"] for r in pending] == [4]
    body = await pool.fetchval("SELECT body FROM records WHERE item_id = $1 AND revision = 4", ITEM)
    assert orjson.loads(body)["function"] == "CANCEL"


async def test_conflicts_unknown_items_and_cancelled_items_are_refused_per_item(
    client, add_operator, pool
) -> None:
    key = await add_operator("epsilon")
    receipt = await send(client, key, epsilon("E1", ("UPDATE", 2, "Tablecloth")))
    assert codes(receipt) == ["item_unknown"]
    assert await pool.fetchval("SELECT count(*) FROM items") == 0, "no trace of a refusal"

    await send(client, key, epsilon("E2", ("ORIGINAL", 1, "Tablecloth")))
    await send(client, key, epsilon("E3", ("UPDATE", 2, "Linen tablecloth")))
    receipt = await send(client, key, epsilon("E4", ("UPDATE", 2, "Silk tablecloth")))
    assert codes(receipt) == ["revision_conflict"]
    assert receipt["errors"][0]["path"] == "/Envelope/Body/SubmitItems/Item[1]"
    receipt = await send(client, key, epsilon("E5", ("UPDATE", 2, "Linen tablecloth")))
    assert receipt["items"]["unchanged"] == 1, "the same revision resent is harmless"

    await send(client, key, epsilon("E6", ("CANCEL", 3, "Linen tablecloth")))
    receipt = await send(client, key, epsilon("E7", ("UPDATE", 4, "Wool tablecloth")))
    assert codes(receipt) == ["item_cancelled"]
    assert await revisions(pool) == [(1, "ORIGINAL"), (2, "UPDATE"), (3, "CANCEL")]


async def test_ascending_revisions_in_one_message_apply_in_order(
    client, add_operator, pool
) -> None:
    key = await add_operator("epsilon")
    body = epsilon(
        "E1", ("ORIGINAL", 1, "Tablecloth"), ("UPDATE", 2, "Linen"), ("UPDATE", 2, "Silk")
    )
    receipt = await send(client, key, body)
    assert receipt["items"] == {"received": 3, "accepted": 2, "rejected": 1, "unchanged": 0}
    assert codes(receipt) == ["duplicate_in_message"]
    assert await revisions(pool) == [(1, "ORIGINAL"), (2, "UPDATE")]
    latest = await pool.fetchrow("SELECT revision, function FROM items WHERE item_id = $1", ITEM)
    assert (latest["revision"], latest["function"]) == (2, "UPDATE")


async def test_implicit_update_for_operators_without_functions(client, add_operator, pool) -> None:
    """Alpha has no functions: a changed resend in a new message is the next revision."""
    key = await add_operator("alpha")
    batch = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
    headers = bearer(key, **{"Content-Type": "application/xml"})
    await client.post("/v1/messages", data=batch, headers=headers)
    for n in (2, 3):
        changed = batch.replace(b"ALPHA-20261128-0001", f"ALPHA-R{n}".encode()).replace(
            b'<GrossWeight unit="kg">1.25<', f'<GrossWeight unit="kg">1.2{n}<'.encode()
        )
        receipt = await (await client.post("/v1/messages", data=changed, headers=headers)).json()
        assert receipt["items"]["accepted"] == 1
    rows = await pool.fetch(
        "SELECT revision, function, stored_json(body)->>'gross_weight_kg' AS kg FROM records"
        " WHERE item_id = 'CP471820937GB' ORDER BY revision"
    )
    assert [(r["revision"], r["function"], r["kg"]) for r in rows] == [
        (1, "ORIGINAL", "1.250"),
        (2, "UPDATE", "1.220"),
        (3, "UPDATE", "1.230"),
    ]
