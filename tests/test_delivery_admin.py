"""Dead letters: the admin API (auth, filters, paging, rate-limited replay) and the
``aedgw deadletters`` commands, on real dead letters in a real database."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway import audit, keys
from gateway.config import Target
from gateway.delivery import deadletters, outbox
from gateway.delivery.deadletters import Filters
from gateway.delivery.outbox import Settlement, State
from gateway.delivery.pacing import RowBudget
from gateway.http import admin
from gateway.keys import Scope
from tests.conftest import bearer
from tests.test_delivery import alpha_message

XML = {"Content-Type": "application/xml"}
TARGETS = [Target(name="cbp", url="http://127.0.0.1:9/", concurrency=0),
           Target(name="eu", url="http://127.0.0.1:9/", concurrency=0)]
LIST, REPLAY = "/v1/admin/deadletters", "/v1/admin/deadletters/replay"


async def kill(pool: asyncpg.Pool, target: str, code: str, limit: int = 100) -> None:
    """Make dead letters the way a worker does: claim a batch, settle it dead."""
    batch = await outbox.claim(pool, target, limit, timedelta(seconds=30))
    assert batch is not None
    await outbox.settle(pool, batch, [
        Settlement(r.id, State.DEAD, batch.batch_id, error="refused", code=code,
                   http_status=422)
        for r in batch.rows
    ])


async def post(client: TestClient, key: str, body: bytes) -> None:
    response = await client.post("/v1/messages", data=body, headers=bearer(key, **XML))
    assert response.status == 202


@pytest.fixture
async def gateway(
    make_client: Callable[..., Awaitable[TestClient]], add_operator, pool: asyncpg.Pool
) -> TestClient:
    """A gateway with 6 dead letters for cbp (3 rejected, 3 client_error) and 3 for eu."""
    client = await make_client(TARGETS)
    key = await add_operator("alpha")
    await post(client, key, alpha_message(100))
    await kill(pool, "cbp", "rejected")
    await kill(pool, "eu", "server_error")
    await post(client, key, alpha_message(101))
    await kill(pool, "cbp", "client_error")
    return client


async def admin_key(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        return (await keys.issue(conn, Scope.ADMIN, "ops", audit.cli_actor()))[1]


async def get(client: TestClient, key: str, **query: str) -> dict:
    response = await client.get(LIST, params=query, headers=bearer(key))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_list_filters_and_pages(gateway: TestClient, pool: asyncpg.Pool) -> None:
    key = await admin_key(pool)
    everything = await get(gateway, key)
    assert len(everything["deadletters"]) == 9 and everything["next"] is None
    first = everything["deadletters"][0]
    assert set(first) == set(deadletters.COLUMNS)
    assert first["dead_at"].endswith("Z") and uuid.UUID(first["record_id"])
    assert (first["error_code"], first["http_status"], first["attempts"]) == ("rejected", 422, 1)

    assert len((await get(gateway, key, target="cbp"))["deadletters"]) == 6
    assert len((await get(gateway, key, target="cbp", code="rejected"))["deadletters"]) == 3
    assert len((await get(gateway, key, operator="alpha"))["deadletters"]) == 9
    assert (await get(gateway, key, operator="beta"))["deadletters"] == []
    assert (await get(gateway, key, since="2999-01-01T00:00:00Z"))["deadletters"] == []
    assert len((await get(gateway, key, until="2999-01-01T00:00:00Z"))["deadletters"]) == 9

    page = await get(gateway, key, limit="4")
    assert len(page["deadletters"]) == 4 and page["next"] == page["deadletters"][-1]["id"]
    rest = await get(gateway, key, limit="5", after=str(page["next"]))
    ids = [d["id"] for d in page["deadletters"] + rest["deadletters"]]
    assert ids == [d["id"] for d in everything["deadletters"]]

    response = await gateway.get(LIST, params={"since": "yesterday"}, headers=bearer(key))
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_request"


async def test_only_admin_keys_may_see_or_replay(
    gateway: TestClient, pool: asyncpg.Pool, add_operator
) -> None:
    operator_key = await add_operator("alpha")
    async with pool.acquire() as conn:
        _, targeting_key = await keys.issue(conn, Scope.TARGETING, "cbp", audit.cli_actor())
    for key in (operator_key, targeting_key):
        assert (await gateway.get(LIST, headers=bearer(key))).status == 403
        assert (await gateway.post(REPLAY, data=b"{}", headers=bearer(key))).status == 403
    assert (await gateway.get(LIST)).status == 401
    assert (await gateway.post(REPLAY, data=b"{}")).status == 401
    assert await deadletters.count(pool, Filters()) == 9


async def test_replay_is_rate_limited(
    gateway: TestClient, make_client, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "REPLAY_RATE", 0.5)
    monkeypatch.setattr(admin, "REPLAY_BURST", 4.0)
    client = await make_client(TARGETS)  # a process whose budget is 4 rows, then 1 per 2 s
    key = await admin_key(pool)
    response = await client.post(REPLAY, data=b'{"target": "cbp"}', headers=bearer(key))
    assert response.status == 200
    assert await response.json() == {"replayed": 4, "superseded": 0, "remaining": 2}
    response = await client.post(REPLAY, data=b'{"target": "cbp"}', headers=bearer(key))
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"]["code"] == "rate_limited"
    rows = await pool.fetch(
        "SELECT attempts, batch_id, dead_at FROM outbox WHERE target = 'cbp' AND state = 'pending'"
    )
    assert [(r["attempts"], r["batch_id"], r["dead_at"]) for r in rows] == [(0, None, None)] * 4

    for body in (b"[1]", b"not json", b'{"limit": 5000}', b'{"target": 7}'):
        response = await client.post(REPLAY, data=body, headers=bearer(key))
        assert response.status == 400, body


async def test_replay_supersedes_a_revision_that_would_overtake(
    gateway: TestClient, pool: asyncpg.Pool, add_operator
) -> None:
    key = await add_operator("alpha")
    await post(gateway, key, alpha_message(100, revised=True))  # revision 2, pending
    result = await deadletters.replay_audited(
        pool, Filters(target="cbp", code="rejected"), 100, audit.cli_actor(), "cli"
    )
    assert (result.replayed, result.superseded) == (0, 3)
    assert await deadletters.count(pool, Filters(target="cbp")) == 3


async def test_paced_replay_never_exceeds_the_budget(
    gateway: TestClient, pool: asyncpg.Pool
) -> None:
    done: list[int] = []
    result = await deadletters.replay_paced(
        pool, Filters(), 5, RowBudget(4.0, 2.0), audit.cli_actor(), done.append
    )
    assert (result.replayed, result.superseded) == (5, 0)
    chunks = [b - a for a, b in zip([0, *done], done, strict=False)]
    assert sum(chunks) == 5 and max(chunks) <= 2


async def test_deadletters_commands(gateway: TestClient, database_url: str, cli) -> None:
    listed = cli("deadletters", "list", "--target", "cbp", "--json", database_url=database_url)
    assert listed.returncode == 0, listed.stderr
    rows = orjson.loads(listed.stdout)
    assert len(rows) == 6 and "6 of 6 dead letters" in listed.stderr
    table = cli("deadletters", "list", "--code", "server_error", database_url=database_url)
    assert table.returncode == 0 and "server_error" in table.stdout

    replayed = cli("deadletters", "replay", "--code", "rejected", "--rate", "50", "--json",
                     database_url=database_url)
    assert replayed.returncode == 0, replayed.stderr
    assert orjson.loads(replayed.stdout) == {"replayed": 3, "superseded": 0}
    left = cli("deadletters", "list", "--json", database_url=database_url)
    assert {r["error_code"] for r in orjson.loads(left.stdout)} == {"client_error", "server_error"}

    bad = cli("deadletters", "list", "--since", "last week", database_url=database_url)
    assert bad.returncode == 2 and "since" in bad.stderr


async def test_replays_are_in_the_audit_trail(
    gateway: TestClient, pool: asyncpg.Pool, database_url: str, cli
) -> None:
    key = await admin_key(pool)
    body = b'{"target": "cbp", "code": "rejected"}'
    assert (await gateway.post(REPLAY, data=body, headers=bearer(key))).status == 200
    replayed = cli("deadletters", "replay", "--target", "eu", database_url=database_url)
    assert replayed.returncode == 0, replayed.stderr
    api, cli = await audit.entries(pool, action="deadletters.replay")
    assert (api["actor"], api["source"], api["subject"]) == (key.split("_")[1], "127.0.0.1", "cbp")
    assert api["details"] == {"via": "api", "filters": {"target": "cbp", "code": "rejected"},
                              "replayed": 3, "superseded": 0}
    assert cli["actor"] == audit.cli_actor().name and cli["subject"] == "eu"
    assert cli["details"] == {"via": "cli", "filters": {"target": "eu"}, "replayed": 3,
                              "superseded": 0}
