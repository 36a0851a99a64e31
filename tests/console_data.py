"""A gateway with something to look at, for the console's tests: gamma's scorecard case
and three alpha items routed to two targets, every cbp row a dead letter (6), a decision,
and an admin key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from aiohttp.test_utils import TestClient

from gateway import audit, keys
from gateway.config import Target
from gateway.keys import Scope
from tests import scorecard_case as case
from tests.conftest import bearer
from tests.test_delivery import alpha_message
from tests.test_delivery_admin import kill

TARGETS = [Target(name="cbp", url="http://127.0.0.1:9/", concurrency=0),
           Target(name="eu", url="http://127.0.0.1:9/", concurrency=0)]


@dataclass(frozen=True, slots=True)
class Scene:
    client: TestClient
    admin_key: str
    admin_key_id: str
    operator_key: str
    item_id: str
    """An alpha item with deliveries (a dead letter for cbp, pending for eu) and a decision."""
    revised_id: str = case.s10("28110100")
    """Gamma's P1: two revisions."""


async def populate(
    make_client: Callable[..., Awaitable[TestClient]],
    add_operator: Callable[..., Awaitable[str]],
    pool: asyncpg.Pool,
) -> Scene:
    client = await make_client(TARGETS)
    gamma = await add_operator("gamma")
    for body in (case.message_a(), case.message_b(), case.MESSAGE_C):
        response = await client.post("/v1/messages", data=body,
                                     headers=bearer(gamma, **{"Content-Type": "application/json"}))
        assert response.status in (202, 422)
    alpha = await add_operator("alpha")
    xml = {"Content-Type": "application/xml"}
    response = await client.post("/v1/messages", data=alpha_message(3),
                                 headers=bearer(alpha, **xml))
    receipt = await response.json()
    assert response.status == 202, receipt
    await kill(pool, "cbp", "rejected")
    item_id = (await pool.fetchval("SELECT item_id FROM outbox WHERE state = 'dead' LIMIT 1"))
    async with pool.acquire() as conn:
        key_id, admin = await keys.issue(conn, Scope.ADMIN, "ops", audit.cli_actor())
        _, targeting = await keys.issue(conn, Scope.TARGETING, "cbp", audit.cli_actor())
    response = await client.post(
        "/v1/decisions",
        json={"item_id": item_id, "code": "HOLD", "reference": "REF-1", "reason": "check"},
        headers=bearer(targeting),
    )
    assert response.status == 201, await response.text()
    return Scene(client, admin, key_id, gamma, item_id)
