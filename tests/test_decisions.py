"""Customs decisions: posted by targeting, read by the operator that sent the item, never
by another; superseded revisions; idempotent reposts; the outcomes feed."""

from __future__ import annotations

import asyncio

from gateway import audit, keys
from gateway.keys import Scope
from tests.conftest import FIXTURES, bearer

ALPHA_ITEM = "CP471820937GB"
BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()


async def targeting_key(pool, name: str = "cbp") -> str:
    async with pool.acquire() as conn:
        _, key = await keys.issue(conn, Scope.TARGETING, name, audit.cli_actor())
    return key


async def submit(client, key: str, body: bytes = BATCH) -> None:
    response = await client.post(
        "/v1/messages", data=body, headers=bearer(key, **{"Content-Type": "application/xml"})
    )
    assert response.status == 202


async def decide(client, key: str, **decision):
    response = await client.post("/v1/decisions", json=decision, headers=bearer(key))
    return response.status, await response.json()


DNL = {
    "item_id": ALPHA_ITEM,
    "code": "DO_NOT_LOAD",
    "reference": "IE3Q01-7781",
    "reason": "high-risk consignment",
}


async def test_decision_is_kept_on_the_latest_revision(client, add_operator, pool) -> None:
    await submit(client, await add_operator("alpha"))
    status, decision = await decide(client, await targeting_key(pool), **DNL)
    assert status == 201
    assert (decision["operator"], decision["revision"], decision["code"]) == (
        "alpha",
        1,
        "DO_NOT_LOAD",
    )
    assert decision["superseded"] is False and decision["decided_by"] == "cbp"


async def test_the_same_decision_again_is_answered_with_the_first(client, add_operator, pool):
    await submit(client, await add_operator("alpha"))
    key = await targeting_key(pool)
    first = await decide(client, key, **DNL)
    again = await asyncio.gather(*(decide(client, key, **DNL) for _ in range(4)))
    assert first[0] == 201 and {status for status, _ in again} == {200}
    assert {body["decision_id"] for _, body in again} == {first[1]["decision_id"]}
    assert await pool.fetchval("SELECT count(*) FROM decisions") == 1


async def test_unknown_items_and_revisions_are_404(client, add_operator, pool) -> None:
    await submit(client, await add_operator("alpha"))
    key = await targeting_key(pool)
    status, body = await decide(client, key, **(DNL | {"item_id": "RR287043775IN"}))
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, _ = await decide(client, key, **(DNL | {"revision": 7}))
    assert status == 404


async def test_bad_decisions_name_the_field(client, pool) -> None:
    key = await targeting_key(pool)
    for decision, field in [
        (DNL | {"code": "SHRUG"}, "code"),
        ({k: v for k, v in DNL.items() if k != "reference"}, "reference"),
        (DNL | {"revision": "2"}, "revision"),
        (DNL | {"colour": "red"}, "colour"),
    ]:
        status, body = await decide(client, key, **decision)
        assert status == 400 and body["error"]["details"] == {"field": field}, decision
    response = await client.post(
        "/v1/decisions", data=b"{", headers=bearer(key, **{"Content-Type": "application/json"})
    )
    assert response.status == 400


async def test_only_targeting_keys_decide(client, add_operator) -> None:
    key = await add_operator("alpha")
    status, body = await decide(client, key, **DNL)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    response = await client.post("/v1/decisions", json=DNL)
    assert response.status == 401


async def test_decision_on_a_superseded_revision_is_kept_and_marked(
    client, add_operator, pool
) -> None:
    key = await add_operator("alpha")
    await submit(client, key)
    changed = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-X").replace(
        b"Men's cotton T-shirt", b"Men's linen T-shirt"
    )
    await submit(client, key, changed)  # revision 2 supersedes revision 1
    status, decision = await decide(
        client, await targeting_key(pool), **(DNL | {"revision": 1, "code": "HOLD"})
    )
    assert status == 201
    assert (decision["revision"], decision["superseded"]) == (1, True)
    outcomes = await (await client.get("/v1/outcomes", headers=bearer(key))).json()
    assert [(o["revision"], o["superseded"]) for o in outcomes["outcomes"]] == [(1, True)]


async def test_ambiguous_item_ids_need_the_operator(client, add_operator, pool) -> None:
    alpha = await add_operator("alpha")
    await submit(client, alpha)
    formats = await pool.fetchval("SELECT formats FROM operators WHERE code = 'alpha'")
    await submit(client, await add_operator("beta", formats=formats))
    key = await targeting_key(pool)
    status, body = await decide(client, key, **DNL)
    assert (status, body["error"]["code"]) == (409, "ambiguous_item")
    status, decision = await decide(client, key, **(DNL | {"operator": "beta"}))
    assert status == 201 and decision["operator"] == "beta"


async def test_operators_read_their_own_outcomes_only(client, add_operator, pool) -> None:
    alpha = await add_operator("alpha")
    await submit(client, alpha)
    gamma = await add_operator("gamma")
    key = await targeting_key(pool)
    await decide(client, key, **DNL)
    await decide(client, key, **(DNL | {"code": "RELEASE", "reference": "R-1"}))

    page = await (await client.get("/v1/outcomes?limit=1", headers=bearer(alpha))).json()
    assert [o["code"] for o in page["outcomes"]] == ["DO_NOT_LOAD"]
    page = await (
        await client.get(f"/v1/outcomes?after={page['next']}", headers=bearer(alpha))
    ).json()
    assert [o["code"] for o in page["outcomes"]] == ["RELEASE"]
    empty = await (await client.get("/v1/outcomes", headers=bearer(gamma))).json()
    assert empty["outcomes"] == []

    assert (await client.get("/v1/outcomes", headers=bearer(key))).status == 403
    assert (await client.get("/v1/outcomes?after=nonsense", headers=bearer(alpha))).status == 400


async def test_outcomes_long_poll_wakes_on_a_decision(client, add_operator, pool) -> None:
    alpha = await add_operator("alpha")
    await submit(client, alpha)
    start = await (await client.get("/v1/outcomes", headers=bearer(alpha))).json()
    waiting = asyncio.create_task(
        client.get(f"/v1/outcomes?after={start['next']}&wait=20", headers=bearer(alpha))
    )
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await decide(client, await targeting_key(pool), **DNL)
    page = await (await waiting).json()
    assert [o["code"] for o in page["outcomes"]] == ["DO_NOT_LOAD"]
    assert loop.time() - started < 10, "woken by the NOTIFY, not by the 20 s wait"


async def test_item_view_is_the_operators_own(client, add_operator, pool) -> None:
    alpha = await add_operator("alpha")
    await submit(client, alpha)
    await decide(client, await targeting_key(pool), **DNL)
    response = await client.get(f"/v1/items/{ALPHA_ITEM}", headers=bearer(alpha))
    assert response.status == 200
    view = await response.json()
    assert view["latest"]["item_id"] == ALPHA_ITEM and view["latest"]["revision"] == 1
    assert [d["code"] for d in view["decisions"]] == ["DO_NOT_LOAD"]
    assert "deliveries" in view
    other = await add_operator("gamma")
    assert (await client.get(f"/v1/items/{ALPHA_ITEM}", headers=bearer(other))).status == 404
    assert (await client.get("/v1/items/NOPE", headers=bearer(alpha))).status == 404
