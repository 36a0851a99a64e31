"""The database stops under a running gateway: requests get 503 ``storage_unavailable``
with Retry-After (never a 500, nothing half-stored), /readyz fails, and once the
database is back the same process serves again, without a restart. The test runs its
own embedded server, so that stopping it disturbs no other test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from gateway import audit, keys, operators
from gateway.config import Settings
from gateway.embedded import load_pgserver
from gateway.http.app import create_app
from gateway.keys import Scope
from gateway.operators import Profile
from gateway.store.migrate import migrate
from tests.conftest import FIXTURES, bearer

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
XML = {"Content-Type": "application/xml"}


async def prepare(url: str) -> str:
    """Migrate, register alpha, and return a key for it."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await operators.add(conn, Profile("alpha", "alpha", ("alpha-itmatt",)), audit.cli_actor())
        return (await keys.issue(conn, Scope.OPERATOR, "alpha", audit.cli_actor()))[1]
    finally:
        await conn.close()


async def test_a_stopped_database_is_503_and_the_gateway_recovers_without_a_restart(
    tmp_path: Path,
) -> None:
    server = await asyncio.to_thread(
        load_pgserver().get_server, tmp_path / "pg", cleanup_mode="delete"
    )
    try:
        url = server.get_uri()
        key = await prepare(url)
        client = TestClient(TestServer(create_app(Settings(data_dir=tmp_path), url)))
        await client.start_server()
        try:
            await check_outage_and_recovery(client, key, server, url)
        finally:
            await client.close()
    finally:
        await asyncio.to_thread(server.cleanup)


async def check_outage_and_recovery(client: TestClient, key: str, server, url: str) -> None:
    first = await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))
    assert first.status == 202

    await asyncio.to_thread(server.stop)
    changed = BATCH.replace(b"ALPHA-20261128-0001", b"ALPHA-20261128-0002")
    for path, method, body in (
        ("/v1/messages", "POST", changed),
        ("/v1/outcomes", "GET", None),
    ):
        response = await client.request(method, path, data=body, headers=bearer(key, **XML))
        error = (await response.json())["error"]
        assert response.status == 503, error
        assert error["code"] == "storage_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/healthz")).status == 200

    await asyncio.to_thread(server.ensure_postgres_running)
    for _ in range(150):  # the pool replaces its dead connections as they are used
        response = await client.post("/v1/messages", data=changed, headers=bearer(key, **XML))
        if response.status != 503:
            break
        await asyncio.sleep(0.2)
    assert response.status == 202, await response.text()
    assert (await client.get("/readyz")).status == 200
    conn = await asyncpg.connect(url)
    try:
        refs = await conn.fetch("SELECT message_ref FROM messages ORDER BY received_at")
    finally:
        await conn.close()
    assert [r["message_ref"] for r in refs] == ["ALPHA-20261128-0001", "ALPHA-20261128-0002"]
