"""/metrics: every name starts aedgw_, and the families cover ingest, rejections by code,
latency histograms, outbox, deliveries, dead letters, circuit state, decisions and the
database pool; circuit states also reach the database, for every process's console."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from gateway import audit, keys, overview
from gateway.keys import Scope
from tests import scorecard_case as case
from tests.conftest import bearer
from tests.test_delivery import target

REQUIRED = {
    "aedgw_messages": "counter", "aedgw_items": "counter", "aedgw_item_errors": "counter",
    "aedgw_message_refusals": "counter", "aedgw_ingest_seconds": "histogram",
    "aedgw_http_request_seconds": "histogram", "aedgw_outbox_depth": "gauge",
    "aedgw_outbox_oldest_pending_seconds": "gauge", "aedgw_delivery_attempts": "counter",
    "aedgw_delivered_records": "counter", "aedgw_dead_letters": "counter",
    "aedgw_circuit_state": "gauge", "aedgw_delivery_seconds": "histogram",
    "aedgw_decisions": "counter", "aedgw_db_pool_connections": "gauge",
}


async def test_metric_names_and_coverage(make_client, add_operator, pool) -> None:
    client = await make_client([target("down", "http://127.0.0.1:9/")])
    key = await add_operator("gamma")
    json = {"Content-Type": "application/json"}
    await client.post("/v1/messages", data=case.message_a(), headers=bearer(key, **json))
    await client.post("/v1/messages", data=case.MESSAGE_C, headers=bearer(key, **json))
    async with pool.acquire() as conn:
        _, targeting = await keys.issue(conn, Scope.TARGETING, "down", audit.cli_actor())
    response = await client.post(
        "/v1/decisions", headers=bearer(targeting),
        json={"item_id": case.s10("28110100"), "code": "RELEASE", "reference": "R-1"})
    assert response.status == 201

    text = await (await client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert all(name.startswith("aedgw_") for name in families), sorted(families)
    for name, kind in REQUIRED.items():
        assert name in families and families[name].type == kind, name

    def value(sample: str, **labels: str) -> float:
        return sum(s.value for f in families.values() for s in f.samples
                   if s.name == sample and labels.items() <= s.labels.items())

    assert value("aedgw_message_refusals_total", operator="gamma", code="schema_invalid") >= 1
    assert value("aedgw_item_errors_total", operator="gamma", code="s10_check_digit") >= 1
    assert value("aedgw_decisions_total", code="RELEASE", outcome="created") >= 1
    assert value("aedgw_http_request_seconds_count", route="/v1/messages", status="202") >= 1


async def test_workers_report_their_circuit_to_the_database(make_client, pool) -> None:
    await make_client([target("down", "http://127.0.0.1:9/")])
    for _ in range(100):  # the first housekeeping round runs as the worker starts
        queues = {q.target: q for q in await overview.queues(pool)}
        if "down" in queues and queues["down"].circuits:
            break
        await asyncio.sleep(0.05)
    assert queues["down"].circuits == {overview.PROCESS: "closed"}
    assert queues["down"].circuit == "closed"
