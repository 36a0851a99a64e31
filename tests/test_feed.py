"""GET /v1/records and GET /v1/records/{item_id} over a real socket into a real database:
scopes, paging, bounds, content negotiation, long-poll, purged cursors, item ledgers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from lxml import etree

from gateway import audit, keys
from gateway.config import Target
from gateway.feed import START, Cursor
from gateway.http.state import FEED, LISTENER
from gateway.keys import Scope
from tests.conftest import FIXTURES, bearer
from xsd import schema_path

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
# The same message with a new reference and one changed description: CP471820937GB gets
# revision 2 (UPDATE); the two other items are unchanged (DOMAIN.md, "Amendments").
CHANGED = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0098").replace(
    b"Men's cotton T-shirt", b"Men's linen T-shirt"
)
BATCH_IDS = ["CP471820937GB", "EE305614281GB", "RR629047155GB"]  # in message order
XML = {"Content-Type": "application/xml"}
CANONICAL_XSD = etree.XMLSchema(etree.parse(str(schema_path("canonical.xsd"))))


async def issue_key(pool: asyncpg.Pool, scope: Scope = Scope.TARGETING, name: str = "cbp") -> str:
    async with pool.acquire() as conn:
        _, key = await keys.issue(conn, scope, name, audit.cli_actor())
    return key


async def submit(client: TestClient, key: str, body: bytes = BATCH) -> dict[str, Any]:
    response = await client.post("/v1/messages", data=body, headers=bearer(key, **XML))
    assert response.status == 202, await response.text()
    return await response.json()


async def read_feed(
    client: TestClient, key: str, headers: dict[str, str] | None = None, **params: Any
) -> tuple[int, Any]:
    response = await client.get(
        "/v1/records",
        params={k: str(v) for k, v in params.items()},
        headers=bearer(key, **(headers or {})),
    )
    body = await response.json() if response.content_type == "application/json" else None
    return response.status, body


async def test_scopes(client, add_operator, pool) -> None:
    operator_key = await add_operator("alpha")
    assert (await client.get("/v1/records")).status == 401
    assert (await client.get("/v1/records/CP471820937GB")).status == 401
    status, body = await read_feed(client, operator_key)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    response = await client.get("/v1/records/CP471820937GB", headers=bearer(operator_key))
    assert response.status == 403
    for scope in (Scope.TARGETING, Scope.ADMIN):
        status, body = await read_feed(client, await issue_key(pool, scope))
        assert status == 200
        assert body == {"records": [], "next": START.encode()}


async def test_pages_follow_the_cursor_and_next_is_always_given(client, add_operator, pool) -> None:
    operator_key = await add_operator("alpha")
    key = await issue_key(pool)
    await submit(client, operator_key)
    await submit(client, operator_key, CHANGED)
    status, first = await read_feed(client, key, limit=2)
    assert status == 200
    assert [r["item_id"] for r in first["records"]] == BATCH_IDS[:2]
    status, second = await read_feed(client, key, limit=2, after=first["next"])
    assert [(r["item_id"], r["revision"], r["function"]) for r in second["records"]] == [
        (BATCH_IDS[2], 1, "ORIGINAL"),
        (BATCH_IDS[0], 2, "UPDATE"),
    ]
    status, third = await read_feed(client, key, limit=2, after=second["next"])
    assert (status, third) == (200, {"records": [], "next": second["next"]})
    status, everything = await read_feed(client, key, limit=1000)
    assert everything["records"] == first["records"] + second["records"]
    assert everything["next"] == second["next"]


async def test_records_come_in_the_canonical_key_order(client, add_operator, pool) -> None:
    await submit(client, await add_operator("alpha"))
    _, body = await read_feed(client, await issue_key(pool), limit=1)
    (record,) = body["records"]
    # DESIGN.md "Canonical record (v1)": the envelope, then the item, in the listed order.
    assert list(record) == [
        "record_id",
        "canonical_version",
        "revision",
        "function",
        "operator",
        "source_format",
        "message_id",
        "message_ref",
        "received_at",
        "raw_sha256",
        "item_id",
        "source_path",
        "item_id_scheme",
        "mail_class",
        "category",
        "category_explanation",
        "origin_country",
        "destination_country",
        "posted_at",
        "gross_weight_kg",
        "pieces",
        "total_value",
        "postal_charges",
        "sender",
        "addressee",
        "contents",
        "documents",
        "transport",
        "quality_flags",
    ]
    party = ["name", "name_original", "business_name", "address", "phone", "email", "tax_ids"]
    assert list(record["sender"]) == list(record["addressee"]) == party
    address = ["lines", "street", "house_number", "postcode", "city", "region", "country"]
    assert list(record["sender"]["address"]) == address
    line = "line_no description quantity unit net_weight_kg value hs_code origin_country"
    assert list(record["contents"][0]) == line.split()
    assert list(record["total_value"]) == ["amount", "currency"]


BAD_PARAMETERS = [
    {"limit": 0},
    {"limit": 1001},
    {"limit": "ten"},
    {"limit": "1.5"},
    {"wait": 31},
    {"wait": -1},
    {"wait": "nan"},
    {"wait": "soon"},
    {"after": "zzz"},
    {"afer": Cursor(1, 1).encode()},  # a typo must not restart the consumer from the start
    {"after": "AQAAAAAAAAABAAAAAAAAAAE!"},
    {"after": Cursor(1, 1).encode()[:-2]},
    {"after": "AgAAAAAAAAABAAAAAAAAAAE"},  # version 2 of the cursor format
]


async def test_parameters_out_of_bounds_are_400_not_clamped(client, pool) -> None:
    key = await issue_key(pool)
    for params in BAD_PARAMETERS:
        status, body = await read_feed(client, key, **params)
        assert (status, body["error"]["code"]) == (400, "bad_request"), params
    for params in ({"limit": 1}, {"limit": 1000, "wait": 0}, {"wait": 0.5}, {"after": ""}):
        assert (await read_feed(client, key, **params))[0] == 200, params


async def test_xml_pages_validate_against_the_canonical_schema(client, add_operator, pool) -> None:
    await submit(client, await add_operator("alpha"))
    key = await issue_key(pool)
    _, as_json = await read_feed(client, key)
    response = await client.get("/v1/records", headers=bearer(key, Accept="application/xml"))
    assert response.status == 200
    assert response.content_type == "application/xml"
    document = etree.fromstring(await response.read())
    CANONICAL_XSD.assertValid(document)
    assert document.get("next") == as_json["next"]
    ns = {"c": "urn:aed-gateway:canonical:1"}
    assert document.xpath("c:Record/c:item_id/text()", namespaces=ns) == BATCH_IDS


NEGOTIATION = [
    ("*/*", 200, "application/json"),
    ("application/*", 200, "application/json"),
    ("application/xml, */*", 200, "application/xml"),
    ("application/xml;q=0.5, application/json", 200, "application/json"),
    ("text/xml", 200, "text/xml"),
    ("application/json;q=0, application/xml", 200, "application/xml"),
    ("text/html", 406, "application/json"),
    ("application/json;q=0", 406, "application/json"),
]


async def test_content_negotiation(client, pool) -> None:
    key = await issue_key(pool)
    for accept, status, content_type in NEGOTIATION:
        response = await client.get("/v1/records", headers=bearer(key, Accept=accept))
        assert (response.status, response.content_type) == (status, content_type), accept


async def test_long_poll_wakes_on_notify(client, add_operator, pool) -> None:
    operator_key = await add_operator("alpha")
    key = await issue_key(pool)
    client.app[FEED].poll_s = 60.0  # only a NOTIFY can wake the poller in time
    poll = asyncio.create_task(read_feed(client, key, wait=20))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await submit(client, operator_key)
    _, body = await asyncio.wait_for(poll, 20)
    assert time.monotonic() - started < 2.0
    assert [r["item_id"] for r in body["records"]] == BATCH_IDS


async def test_long_poll_with_nothing_new_returns_the_same_cursor(
    client, add_operator, pool
) -> None:
    await submit(client, await add_operator("alpha"))
    key = await issue_key(pool)
    _, body = await read_feed(client, key)
    started = time.monotonic()
    status, empty = await read_feed(client, key, after=body["next"], wait=1)
    assert time.monotonic() - started >= 0.9
    assert (status, empty) == (200, {"records": [], "next": body["next"]})


async def test_polling_fallback_without_the_listener(client, add_operator, pool) -> None:
    operator_key = await add_operator("alpha")
    key = await issue_key(pool)
    await client.app[LISTENER].stop()
    client.app[FEED].poll_s = 0.2
    poll = asyncio.create_task(read_feed(client, key, wait=20))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await submit(client, operator_key)
    _, body = await asyncio.wait_for(poll, 20)
    assert time.monotonic() - started < 2.0
    assert len(body["records"]) == 3


async def test_waiters_hold_no_connection(make_client, add_operator, pool) -> None:
    client = await make_client(pool_max_size=2)
    operator_key = await add_operator("alpha")
    key = await issue_key(pool)
    client.app[FEED].poll_s = 60.0
    waiters = [asyncio.create_task(read_feed(client, key, wait=20)) for _ in range(30)]
    await asyncio.sleep(0.5)
    started = time.monotonic()
    assert (await read_feed(client, key))[0] == 200  # the pool is free while 30 wait
    assert time.monotonic() - started < 1.0
    await submit(client, operator_key)
    pages = await asyncio.wait_for(asyncio.gather(*waiters), 10)
    assert all(len(body["records"]) == 3 for _, body in pages)


async def test_a_purged_cursor_is_410(client, add_operator, pool) -> None:
    await submit(client, await add_operator("alpha"))
    key = await issue_key(pool)
    _, first = await read_feed(client, key, limit=1)
    _, rest = await read_feed(client, key, after=first["next"])
    second = await pool.fetchrow("SELECT xid, seq FROM records ORDER BY xid, seq OFFSET 1 LIMIT 1")
    await pool.execute(
        "INSERT INTO purge_marks (feed, xid, seq) VALUES ('records', $1, $2)",
        second["xid"],
        second["seq"],
    )
    status, body = await read_feed(client, key, after=first["next"])
    assert status == 410
    assert body["error"]["code"] == "cursor_purged"
    assert (await read_feed(client, key, after=rest["next"]))[0] == 200
    assert (await read_feed(client, key))[0] == 200  # no cursor: from the oldest kept


async def test_item_ledger_has_history_and_deliveries(make_client, add_operator, pool) -> None:
    us_only = {"destination_countries": ["US"]}
    idle = Target("us", "http://127.0.0.1:9/", routes=us_only, concurrency=0)  # no pushing
    client = await make_client(targets=[idle])
    operator_key = await add_operator("alpha")
    await submit(client, operator_key)
    await submit(client, operator_key, CHANGED)
    response = await client.get("/v1/records/CP471820937GB", headers=bearer(await issue_key(pool)))
    assert response.status == 200
    ledger = await response.json()
    assert (ledger["operator"], ledger["item_id"]) == ("alpha", "CP471820937GB")
    history = ledger["history"]
    assert [(r["revision"], r["function"]) for r in history] == [(1, "ORIGINAL"), (2, "UPDATE")]
    assert history[0]["contents"][0]["description"] == "Men's cotton T-shirt"
    assert history[1]["contents"][0]["description"] == "Men's linen T-shirt"
    assert [r["message_ref"] for r in history] == ["ALPHA-20261128-0001", "ALPHA-20261128-0098"]
    assert ledger["latest"] == history[-1]
    # Destination US: the "us" target has it; revision 2 replaced the pending revision 1
    # (DESIGN.md, Deliver: at most one live outbox row per target and item).
    (delivery,) = ledger["deliveries"]
    assert delivery["target"] == "us"
    assert (delivery["revision"], delivery["record_id"]) == (2, history[1]["record_id"])
    assert (delivery["state"], delivery["attempts"], delivery["last_error"]) == ("pending", 0, None)
    assert delivery["delivered_at"] is None
    assert delivery["next_attempt_at"].endswith("Z")
    response = await client.get("/v1/records/EE305614281GB", headers=bearer(await issue_key(pool)))
    assert (await response.json())["deliveries"] == []  # destination DE: routed nowhere


async def test_item_ledger_refuses_ambiguous_and_unknown_ids(client, add_operator, pool) -> None:
    await submit(client, await add_operator("alpha"))
    beta_formats = await pool.fetchval("SELECT formats FROM operators WHERE code = 'alpha'")
    await submit(client, await add_operator("beta", formats=beta_formats))
    key = await issue_key(pool)
    response = await client.get("/v1/records/EE305614281GB", headers=bearer(key))
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "ambiguous_item"
    assert error["details"] == {"operators": ["alpha", "beta"]}
    response = await client.get("/v1/records/EE305614281GB?operator=beta", headers=bearer(key))
    assert response.status == 200
    assert (await response.json())["history"][0]["operator"] == "beta"
    for path in ("/v1/records/XX000000000XX", "/v1/records/EE305614281GB?operator=gamma"):
        response = await client.get(path, headers=bearer(key))
        assert (response.status, (await response.json())["error"]["code"]) == (404, "not_found")
