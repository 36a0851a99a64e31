"""Every operator's fixtures: translated without a database, and sent over real HTTP into
the real database, each against its hand-checked expected output."""

from __future__ import annotations

import uuid

import orjson
import pytest
from lxml import etree

from adapters.registry import default_registry
from gateway.onboarding import translate_case
from tests.conftest import bearer
from tests.fixture_cases import Case, cases, comparable, without_message

CASES = cases()


def fault_as_error(xml: bytes) -> dict:
    """The error code and message id carried in a SOAP Fault's detail."""
    detail = etree.fromstring(xml).find(".//{urn:aed-gateway:error:1}error")
    assert detail is not None, xml
    ns = "{urn:aed-gateway:error:1}"
    return {
        "error": {"code": detail.findtext(ns + "code")},
        "message_id": detail.findtext(ns + "message_id"),
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_translation_matches_expected(case: Case) -> None:
    result = translate_case(case, default_registry())
    assert comparable(result) == comparable(case.expected)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_fixture_over_http(case: Case, client, add_operator, pool) -> None:
    key = await add_operator(case.operator)
    response = await client.post(
        "/v1/messages",
        data=case.source.read_bytes(),
        headers=bearer(key, **{"Content-Type": case.content_type, **case.headers}),
    )
    if response.content_type == "application/json":
        body = await response.json()
    else:  # a SOAP sender's error comes back as a Fault
        body = fault_as_error(await response.read())
    assert response.status == case.expected["http_status"], body
    if "error" in case.expected:
        assert body["error"]["code"] == case.expected["error"]["code"]
        stored = await pool.fetchval(
            "SELECT count(*) FROM messages WHERE message_id = $1 AND status = 'rejected'",
            uuid.UUID(body["message_id"]),
        )
        assert stored == 1, "a refused message is archived"
        return
    expected = case.expected["translation"]
    assert body["status"] == expected["status"]
    assert body["message_ref"] == expected["message_ref"]
    assert body["source_format"] == expected["source_format"]
    assert {k: body["items"][k] for k in ("received", "accepted", "rejected")} == expected["items"]
    assert [without_message(e) for e in body["errors"]] == [
        without_message(e) for e in expected["errors"]
    ]
    rows = [
        {"body": orjson.loads(r["body"])}
        for r in await pool.fetch(
            "SELECT body FROM records WHERE message_id = $1 ORDER BY seq",
            uuid.UUID(body["message_id"]),
        )
    ]
    # the item part of each stored record (function and revision come from the envelope)
    expected_items = [
        {k: v for k, v in rec.items() if k not in ("function", "revision")}
        for rec in expected["records"]
    ]
    stored_items = [
        {k: r["body"][k] for k in item if k in r["body"]}
        for r, item in zip(rows, expected_items, strict=True)
    ]
    assert stored_items == expected_items
    for row, rec in zip(rows, expected["records"], strict=True):
        assert row["body"]["function"] == (rec["function"] or "ORIGINAL")
        assert row["body"]["revision"] == (rec["revision"] or 1)
        assert row["body"]["operator"] == case.operator
        assert row["body"]["message_id"] == body["message_id"]
