"""Logs carry the request id, operator and message id, and never personal data."""

from __future__ import annotations

import io
import logging

import orjson

from tests.conftest import FIXTURES, bearer

BATCH = FIXTURES / "alpha" / "v11-batch-3.xml"
PERSONAL = (
    "Eleanor Whitcombe",
    "Brick Lane",
    "orders@whitcombe-knitwear.example",
    "7946 0958",
    "Daniel Okafor",
    "West 34th Street",
    "d.okafor@example.com",
)


async def test_request_logs_have_context_and_no_personal_data(
    client, add_operator, json_logs: io.StringIO
) -> None:
    await post_and_check(client, add_operator, json_logs)


async def post_and_check(client, add_operator, stream: io.StringIO) -> None:
    key = await add_operator("alpha")
    response = await client.post(
        "/v1/messages",
        data=BATCH.read_bytes(),
        headers=bearer(key, **{"Content-Type": "application/xml", "X-Request-Id": "req-42"}),
    )
    assert response.status == 202
    message_id = (await response.json())["message_id"]
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    request_lines = [line for line in lines if line.get("request_id") == "req-42"]
    answered = next(line for line in request_lines if line["event"] == "message_answered")
    assert answered["message_id"] == message_id
    done = next(line for line in request_lines if line["event"] == "request")
    assert (done["operator"], done["status"]) == ("alpha", 202)
    text = stream.getvalue()
    for value in PERSONAL:
        assert value not in text


async def test_at_info_only_refused_requests_write_an_access_line(
    client, json_logs: io.StringIO
) -> None:
    """A request that went well logs its access line at debug (logging at info costs a
    request no line of its own); a refused one still logs it at info."""
    logging.getLogger().setLevel(logging.INFO)
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/v1/records", headers=bearer("no-such-key"))).status == 401
    access = [
        line for line in map(orjson.loads, json_logs.getvalue().splitlines())
        if line["event"] == "request"
    ]
    assert [(line["status"], line["level"]) for line in access] == [(401, "info")]
