"""A client that hangs up mid-body, and headers the core reads with bytes no identifier
holds (issue 8, point 5), over raw sockets."""

from __future__ import annotations

import asyncio
import io
import re

import orjson
import pytest

from tests.conftest import FIXTURES

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()


async def raw_exchange(client, data: bytes, *, hang_up: bool = False) -> bytes:
    """Send ``data`` over a real socket; the answer, or b"" when we hang up first."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(data)
        await writer.drain()
        if hang_up:
            await asyncio.sleep(0.2)  # the handler is reading the body by now
            writer.transport.abort()  # a reset, as a client that crashed
            return b""
        return await reader.read()
    finally:
        writer.close()


async def server_errors(client) -> float:
    """5xx answers and storage_unavailable refusals so far, as /metrics counts them (the
    registry is the process's: other tests' counts are in it too)."""
    metrics = await (await client.get("/metrics")).text()
    samples = re.findall(
        r'^aedgw_(?:http_request_seconds_count\{[^}]*status="5\d\d"[^}]*\}'
        r'|message_refusals_total\{[^}]*code="storage_unavailable"[^}]*\}) (\S+)$',
        metrics, re.M,
    )
    return sum(float(value) for value in samples)


def head(key: str, length: int, **headers: bytes) -> bytes:
    lines = [
        b"POST /v1/messages HTTP/1.1", b"Host: gw", b"Content-Type: application/xml",
        b"Authorization: Bearer " + key.encode(), b"Content-Length: %d" % length,
        b"Connection: close",
        *(name.replace("_", "-").encode() + b": " + value for name, value in headers.items()),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def test_a_client_hanging_up_mid_body_is_a_disconnect_not_a_storage_error(
    client, add_operator, pool, json_logs: io.StringIO
) -> None:
    key = await add_operator("alpha")
    before = await server_errors(client)
    await raw_exchange(client, head(key, len(BATCH)) + BATCH[: len(BATCH) // 2], hang_up=True)
    await asyncio.sleep(0.3)  # let the server notice
    lines = [orjson.loads(line) for line in json_logs.getvalue().splitlines()]
    events = [line.get("event") for line in lines]
    assert "client_disconnected" in events, events
    assert "storage_unavailable" not in events and "internal_error" not in events, lines
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0
    assert await server_errors(client) == before
    # and the gateway goes on serving
    answer = await raw_exchange(client, head(key, len(BATCH)) + BATCH)
    assert answer.split(b"\r\n")[0] == b"HTTP/1.1 202 Accepted", answer[:200]


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Message-Ref"])
@pytest.mark.parametrize(
    "value", [b"k\x01ey", b"k\x7fey", b"\xff\xfe", b"\xed\xa0\x80", b"k\x1b[2J"],
    ids=["soh", "del", "not-utf8", "surrogate", "escape"],
)
async def test_a_header_the_core_reads_with_bytes_no_identifier_holds_is_400(
    client, add_operator, pool, header, value
) -> None:
    key = await add_operator("alpha")
    answer = await raw_exchange(client, head(key, len(BATCH), **{header: value}) + BATCH)
    status, _, rest = answer.partition(b"\r\n")
    assert re.fullmatch(rb"HTTP/1\.[01] 400 Bad Request", status), answer[:300]
    if b"application/json" in rest.split(b"\r\n\r\n", 1)[0]:  # else aiohttp's own 400
        body = orjson.loads(rest.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] == "bad_request"
        assert body["error"]["details"] == {"header": header}
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0
