"""Key expiry and last use (issue 13, point 6): ``--expires-in`` at issue, a warning in
the logs and a metric before a key expires, ``aedgw keys list`` with the last use."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from gateway import audit, keys
from gateway.keys import Scope
from tests.conftest import bearer


def test_issue_with_expiry_and_list_with_last_use(database_url: str, cli) -> None:
    assert cli("operators", "add", "alpha", database_url=database_url).returncode == 0
    issued = cli(
        "keys", "issue", "--operator", "alpha", "--expires-in", "90d", database_url=database_url
    )
    assert issued.returncode == 0, issued.stderr
    assert "valid until 20" in issued.stderr
    forever = cli("keys", "issue", "--admin", "ops", database_url=database_url)
    listed = cli("keys", "list", "--json", database_url=database_url)
    rows = {row["key_id"]: row for row in orjson.loads(listed.stdout)}
    expiring = rows[issued.stdout.split("_")[1]]
    expires_at = datetime.fromisoformat(expiring["expires_at"])
    created_at = datetime.fromisoformat(expiring["created_at"])
    assert expires_at - created_at == timedelta(days=90)
    assert expiring["last_used_at"] is None and expiring["subject"] == "alpha"
    assert rows[forever.stdout.split("_")[1]]["expires_at"] is None
    table = cli("keys", "list", database_url=database_url)
    assert table.returncode == 0 and "ops" in table.stdout  # a table for people


def test_a_wrong_expiry_is_one_line(database_url: str, cli) -> None:
    for wrong in ("90", "soon", "-1d", "99999d"):
        result = cli(
            "keys", "issue", "--admin", "ops", "--expires-in", wrong, database_url=database_url
        )
        assert result.returncode == 2, wrong
        assert "--expires-in" in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""


async def test_a_key_stops_working_when_it_expires(client, add_operator, pool) -> None:
    await add_operator("alpha")
    async with pool.acquire() as conn:
        _, key = await keys.issue(
            conn, Scope.OPERATOR, "alpha", audit.cli_actor(), timedelta(seconds=1)
        )
    assert (await client.get("/v1/outcomes", headers=bearer(key))).status == 200
    await asyncio.sleep(1.2)
    response = await client.get("/v1/outcomes", headers=bearer(key))
    assert response.status == 401


async def test_rotation_keeps_the_lifetime_the_key_was_issued_with(pool) -> None:
    actor = audit.cli_actor()
    async with pool.acquire() as conn:
        key_id, _ = await keys.issue(conn, Scope.ADMIN, "ops", actor, timedelta(days=30))
        new_id, _, _ = await keys.rotate(conn, key_id, timedelta(hours=1), actor)
    row = await pool.fetchrow(
        "SELECT created_at, expires_at FROM api_keys WHERE key_id = $1", new_id
    )
    assert row["expires_at"] - row["created_at"] == timedelta(days=30)


async def test_last_use_is_written_at_most_once_a_minute(client, add_operator, pool) -> None:
    key = await add_operator("alpha")
    key_id = key.split("_")[1]

    async def last_use() -> datetime | None:
        return await pool.fetchval("SELECT last_used_at FROM api_keys WHERE key_id = $1", key_id)

    assert await last_use() is None
    assert (await client.get("/v1/outcomes", headers=bearer(key))).status == 200
    first = await last_use()
    assert first is not None
    for _ in range(3):
        assert (await client.get("/v1/outcomes", headers=bearer(key))).status == 200
    assert await last_use() == first  # not written again within the minute


async def test_keys_about_to_expire_are_logged_and_measured(
    make_client, add_operator, pool: asyncpg.Pool, json_logs: io.StringIO
) -> None:
    await add_operator("alpha")
    actor = audit.cli_actor()
    async with pool.acquire() as conn:
        soon, _ = await keys.issue(conn, Scope.OPERATOR, "alpha", actor, timedelta(days=3))
        later, _ = await keys.issue(conn, Scope.OPERATOR, "alpha", actor, timedelta(days=60))
    client = await make_client(key_expiry_warning_days=14.0)  # checks when it starts
    for _ in range(100):
        if "key_expiring" in json_logs.getvalue():
            break
        await asyncio.sleep(0.05)
    warnings = [
        line for line in map(orjson.loads, json_logs.getvalue().splitlines())
        if line["event"] == "key_expiring"
    ]
    assert [w["key_id"] for w in warnings] == [soon]
    assert warnings[0]["level"] == "warning" and 71 < warnings[0]["hours_left"] <= 72
    metrics = await (await client.get("/metrics")).text()
    assert "aedgw_keys_expiring 1.0" in metrics
    expiry = {
        line.split('key_id="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("aedgw_key_expiry_timestamp_seconds{")
    }
    assert set(expiry) == {soon, later}
    in_three_days = (datetime.now(UTC) + timedelta(days=3)).timestamp()
    assert abs(expiry[soon] - in_three_days) < 300
