"""Decisions pushed to operators' callback URLs on the outbox machinery: signed, retried,
DO_NOT_LOAD first, in the operator's own format where it has one; and the records side
of the way back: a cancellation racing a delivery never lets a stale revision win."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree

from gateway import audit, decisions, keys
from gateway.decisions import DecisionCode, DecisionRequest
from gateway.keys import Scope
from tests.conftest import FIXTURES, bearer
from tests.test_amendments import epsilon
from tests.test_delivery import target, until
from xsd import schema_path

SECRET = "s3cret-for-tests"
ALPHA = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
ALPHA_ITEM = "CP471820937GB"
EPS_ITEM = "CP261128315TR"


@dataclass
class Inbox:
    """A callback endpoint (or a targeting endpoint): what came, and faults on demand."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0
    delay_first_s: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay_first_s and not self.requests:
            self.requests.append((dict(request.headers), body))
            await asyncio.sleep(self.delay_first_s)
            return web.json_response({})
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.json_response({"error": "busy"}, status=503)
        self.requests.append((dict(request.headers), body))
        return web.json_response({})


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, str]]:
    box = Inbox()
    app = web.Application()
    app.router.add_post("/", box.handle)
    server = TestServer(app)
    await server.start_server()
    yield box, str(server.make_url("/"))
    await server.close()


async def decide(pool, item_id: str, code: DecisionCode, reference: str, **more):
    request = DecisionRequest(item_id=item_id, code=code, reference=reference, reason="r", **more)
    return await decisions.decide(pool, request, "cbp")


def posted_decisions(box: Inbox) -> list[dict]:
    return [d for _, body in box.requests for d in orjson.loads(body)["decisions"]]


async def test_decisions_are_pushed_signed_and_retried(make_client, add_operator, pool, inbox):
    box, url = inbox
    box.fail_first = 2  # the same retry machinery as targeting delivery
    key = await add_operator("alpha", callback_url=url, callback_secret=SECRET)
    client = await make_client(callbacks_refresh_s=0.2)
    await client.post(
        "/v1/messages", data=ALPHA, headers=bearer(key, **{"Content-Type": "application/xml"})
    )
    async with pool.acquire() as conn:
        _, tkey = await keys.issue(conn, Scope.TARGETING, "cbp", audit.cli_actor())
    response = await client.post(
        "/v1/decisions",
        headers=bearer(tkey),
        json={"item_id": ALPHA_ITEM, "code": "HOLD", "reference": "H-1", "reason": "x-ray"},
    )
    assert response.status == 201

    async def settled() -> bool:  # the worker records the answer after the receiver has it
        state = await pool.fetchval("SELECT state FROM outbox WHERE decision_id IS NOT NULL")
        return state == "delivered"

    await until(settled, timeout=60)
    assert len(box.requests) == 1
    headers, body = box.requests[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-AEDGW-Signature"] == expected
    assert headers["Content-Type"].startswith("application/json")
    [decision] = orjson.loads(body)["decisions"]
    assert (decision["item_id"], decision["code"], decision["reference"]) == (
        ALPHA_ITEM,
        "HOLD",
        "H-1",
    )
    row = await pool.fetchrow("SELECT state, attempts FROM outbox WHERE decision_id IS NOT NULL")
    assert (row["state"], row["attempts"]) == ("delivered", 3)


async def test_do_not_load_goes_first(make_client, add_operator, pool, inbox) -> None:
    box, url = inbox
    key = await add_operator("alpha", callback_url=url, callback_secret=SECRET)
    first = await make_client(callbacks_refresh_s=60)  # ingest only; stop it before deciding
    await first.post(
        "/v1/messages", data=ALPHA, headers=bearer(key, **{"Content-Type": "application/xml"})
    )
    await first.close()
    # decided while no worker runs: the queue holds them all when the worker starts
    await decide(pool, ALPHA_ITEM, DecisionCode.INFO_REQUESTED, "I-1")
    await decide(pool, "EE305614281GB", DecisionCode.RELEASE, "R-1")
    await decide(pool, "RR629047155GB", DecisionCode.DO_NOT_LOAD, "IE3Q01-1")
    await make_client(callbacks_refresh_s=60)

    async def all_arrived() -> bool:
        return len(posted_decisions(box)) == 3

    await until(all_arrived, timeout=60)
    assert posted_decisions(box)[0]["code"] == "DO_NOT_LOAD"


async def test_epsilon_gets_its_decisions_as_soap(make_client, add_operator, pool, inbox):
    box, url = inbox
    key = await add_operator("epsilon", callback_url=url, callback_secret=SECRET)
    client = await make_client(callbacks_refresh_s=0.2)
    response = await client.post(
        "/v1/messages",
        data=epsilon("E1", ("ORIGINAL", 1, "Tablecloth")),
        headers=bearer(key, **{"Content-Type": "text/xml"}),
    )
    assert response.status == 202
    await decide(pool, EPS_ITEM, DecisionCode.DO_NOT_LOAD, "IE3Q01-9")

    async def arrived() -> bool:
        return len(box.requests) == 1

    await until(arrived, timeout=60)
    headers, body = box.requests[0]
    assert headers["Content-Type"].startswith("text/xml")
    assert headers["X-AEDGW-Signature"].startswith("sha256=")
    ns = {"s": "http://schemas.xmlsoap.org/soap/envelope/", "e": "urn:epsilon:aed:2"}
    notice = etree.fromstring(body).find("s:Body/e:CustomsDecisions", ns)
    schema = etree.XMLSchema(etree.parse(str(schema_path("epsilon-decisions-2.xsd"))))
    schema.assertValid(notice)
    [decision] = notice.findall("e:Decision", ns)
    assert decision.findtext("e:Barcode", namespaces=ns) == EPS_ITEM
    assert decision.findtext("e:Code", namespaces=ns) == "DO_NOT_LOAD"
    assert decision.get("superseded") == "false"


async def test_a_decision_on_a_superseded_revision_is_pushed_marked(
    make_client, add_operator, pool, inbox
) -> None:
    box, url = inbox
    key = await add_operator("epsilon", callback_url=url)
    client = await make_client(callbacks_refresh_s=0.2)
    headers = bearer(key, **{"Content-Type": "text/xml"})
    await client.post("/v1/messages", data=epsilon("E1", ("ORIGINAL", 1, "Cloth")), headers=headers)
    # targeting decides on revision 1 while revision 2 arrives meanwhile
    await client.post("/v1/messages", data=epsilon("E2", ("UPDATE", 2, "Linen")), headers=headers)
    recorded = await decide(pool, EPS_ITEM, DecisionCode.HOLD, "H-9", revision=1)
    assert recorded.decision["superseded"] is True

    async def arrived() -> bool:
        return len(box.requests) == 1

    await until(arrived, timeout=60)
    headers_seen, body = box.requests[0]
    assert "X-AEDGW-Signature" not in headers_seen, "no secret, no signature"
    decision = etree.fromstring(body).find(".//{urn:epsilon:aed:2}Decision")
    assert decision.get("superseded") == "true"
    assert decision.findtext("{urn:epsilon:aed:2}Revision") == "1"


async def test_a_cancellation_racing_a_delivery_is_delivered_after_it(
    make_client, add_operator, pool, inbox
) -> None:
    """Revision 1 is in flight (a slow receiver) when the CANCEL arrives: the CANCEL waits
    for it and goes next; nothing stale is ever sent after the cancellation."""
    box, url = inbox
    box.delay_first_s = 1.5
    key = await add_operator("epsilon")
    client = await make_client(targets=[target("t", url, concurrency=2, timeout_s=5.0)])
    headers = bearer(key, **{"Content-Type": "text/xml"})
    await client.post("/v1/messages", data=epsilon("E1", ("ORIGINAL", 1, "Cloth")), headers=headers)

    async def in_flight() -> bool:
        return len(box.requests) == 1

    await until(in_flight, timeout=30)
    await client.post("/v1/messages", data=epsilon("E2", ("CANCEL", 2, "Cloth")), headers=headers)
    update = epsilon("E3", ("UPDATE", 3, "Silk"))
    receipt = await (await client.post("/v1/messages", data=update, headers=headers)).json()
    assert [e["code"] for e in receipt["errors"]] == ["item_cancelled"]

    async def both_delivered() -> bool:
        rows = await pool.fetch("SELECT state FROM outbox WHERE target = 't'")
        return [r["state"] for r in rows] == ["delivered", "delivered"]

    await until(both_delivered, timeout=60)
    sent = [
        (r["revision"], r["function"])
        for _, body in box.requests
        for r in orjson.loads(body)["records"]
    ]
    assert sent == [(1, "ORIGINAL"), (2, "CANCEL")]


async def test_cancellation_replaces_a_pending_revision(make_client, add_operator, pool, inbox):
    box, url = inbox
    key = await add_operator("epsilon")
    # routed to the target but not pushed from here (concurrency 0): the row stays pending
    routed_only = [target("t", url, concurrency=0)]
    client = await make_client(targets=routed_only)
    headers = bearer(key, **{"Content-Type": "text/xml"})
    await client.post("/v1/messages", data=epsilon("E1", ("ORIGINAL", 1, "Cloth")), headers=headers)
    await client.post("/v1/messages", data=epsilon("E2", ("CANCEL", 2, "Cloth")), headers=headers)
    rows = await pool.fetch("SELECT revision, state FROM outbox WHERE target = 't'")
    assert [(r["revision"], r["state"]) for r in rows] == [(2, "pending")]
    pusher = await make_client(targets=[target("t", url)])
    assert pusher is not None

    async def delivered() -> bool:
        return len(box.requests) == 1

    await until(delivered, timeout=30)
    [record] = orjson.loads(box.requests[0][1])["records"]
    assert (record["revision"], record["function"]) == (2, "CANCEL")
