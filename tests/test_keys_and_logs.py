"""Bearer keys: never logged, not even when a client sends one with a control character;
a real key id with a wrong secret is refused; a revocation sent while the LISTEN
connection was down still takes effect once it is back."""

from __future__ import annotations

import asyncio
import io
from urllib.parse import urlsplit

import asyncpg
import orjson

from gateway import audit, keys
from gateway.http.state import LISTENER
from tests.conftest import FIXTURES, bearer

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()


async def raw_request(client, head: bytes) -> bytes:
    """Send ``head`` as is over a real socket; the server's answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()


async def test_a_key_with_a_control_character_is_never_logged(
    client, add_operator, json_logs: io.StringIO
) -> None:
    key = await add_operator("alpha")
    secret = key.rsplit("_", 1)[1]
    # A key read from a file with CRLF line ends keeps its CR; a stray control character.
    for value in (f"Bearer {key}\r".encode(), f"Bearer {key}\x01".encode()):
        answer = await raw_request(
            client,
            b"GET /v1/outcomes HTTP/1.1\r\nHost: gw\r\nAuthorization: " + value
            + b"\r\nConnection: close\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
    # A key pasted where a request id goes is not echoed into the logs either.
    response = await client.get(
        "/v1/outcomes", headers=bearer(key, **{"X-Request-Id": f"id {key}"})
    )
    assert response.status == 200
    logged = json_logs.getvalue()
    assert "bad_http_request" in logged
    assert secret not in logged
    assert secret[:16] not in logged


async def test_a_key_with_bytes_that_are_no_utf8_is_401_not_500(client) -> None:
    # aiohttp hands such bytes over as lone surrogates, which PostgreSQL cannot take.
    for key_id in (b"\xff\xfe", b"\xed\xa0\x80", "é".encode()):
        answer = await raw_request(
            client,
            b"GET /v1/outcomes HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer aedgw_"
            + key_id + b"_" + b"s" * 43 + b"\r\nConnection: close\r\n\r\n",
        )
        assert answer.split(b"\r\n")[0] == b"HTTP/1.1 401 Unauthorized", answer


async def test_a_real_key_id_with_a_wrong_secret_is_refused(client, add_operator) -> None:
    key = await add_operator("alpha")
    key_id, secret = keys.split(key)
    wrong = f"aedgw_{key_id}_{secret[::-1]}"
    assert secret[::-1] != secret
    for _ in range(2):  # before the good key is cached, and after
        response = await client.get("/v1/outcomes", headers=bearer(wrong))
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
        assert (await client.get("/v1/outcomes", headers=bearer(key))).status == 200


async def test_a_revocation_missed_while_the_listener_was_down_still_applies(
    client, add_operator, pool: asyncpg.Pool, admin_url: str, database_url: str
) -> None:
    key = await add_operator("alpha")
    assert (await client.get("/v1/outcomes", headers=bearer(key))).status == 200  # cached
    listener = client.app[LISTENER]
    database = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(admin_url)
    try:
        # Keep the listener from coming back until the revocation has been sent.
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        pid = await pool.fetchval(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
        )
        assert await pool.fetchval("SELECT pg_terminate_backend($1)", pid)
        for _ in range(200):
            if not listener.connected:
                break
            await asyncio.sleep(0.05)
        assert not listener.connected
        # In the gap the key is still served (and cached), then revoked: the NOTIFY is lost.
        assert (await client.get("/v1/outcomes", headers=bearer(key))).status == 200
        async with pool.acquire() as conn:
            await keys.revoke(conn, key.split("_")[1], audit.cli_actor())
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
    for _ in range(300):
        status = (await client.get("/v1/outcomes", headers=bearer(key))).status
        if status == 401:
            break
        await asyncio.sleep(0.05)
    assert status == 401, "the key was still served after the listener came back"
    assert listener.connected


async def test_metrics_may_require_an_admin_or_monitoring_key(make_client, pool) -> None:
    client = await make_client(metrics_auth=True)
    async with pool.acquire() as conn:
        _, monitoring = await keys.issue(
            conn, keys.Scope.MONITORING, "prometheus", audit.cli_actor()
        )
        _, admin = await keys.issue(conn, keys.Scope.ADMIN, "ops", audit.cli_actor())
        _, targeting = await keys.issue(conn, keys.Scope.TARGETING, "cbp", audit.cli_actor())
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=bearer(targeting))).status == 403
    for key in (monitoring, admin):
        response = await client.get("/metrics", headers=bearer(key))
        assert response.status == 200
        assert "aedgw_messages_total" in await response.text()
    # a monitoring key reads nothing else
    response = await client.get("/v1/records", headers=bearer(monitoring))
    assert response.status == 403
    assert orjson.loads(await response.read())["error"]["code"] == "forbidden"


async def test_metrics_are_open_by_default(client) -> None:
    assert (await client.get("/metrics")).status == 200
