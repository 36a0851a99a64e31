"""The audit trail (issue 13, point 5): append-only, written by every administrative
act in the same transaction as the act, read with ``aedgw audit list`` and
``GET /v1/admin/audit`` (admin keys only)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import orjson
import pytest

from gateway import audit, keys, operators
from gateway.keys import Scope
from gateway.operators import PolicyInvalid
from tests.conftest import bearer

AUDIT = "/v1/admin/audit"


async def test_record_and_list(pool: asyncpg.Pool) -> None:
    actor = audit.Actor("cli:ops@host", "host")
    await audit.record(pool, actor, "keys.issue", "k1", {"scope": "operator"})
    await audit.record(pool, actor, "keys.revoke", "k1")
    await audit.record(pool, actor, "operators.add", "alpha")
    keys_acts = await audit.entries(pool, action="keys")
    assert [e["action"] for e in keys_acts] == ["keys.issue", "keys.revoke"]
    assert keys_acts[0]["details"] == {"scope": "operator"}
    assert keys_acts[0]["actor"] == "cli:ops@host"
    after = await audit.entries(pool, after_id=keys_acts[0]["id"])
    assert [e["subject"] for e in after] == ["k1", "alpha"]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"]
)
async def test_history_cannot_be_rewritten(pool: asyncpg.Pool, statement: str) -> None:
    await audit.record(pool, audit.cli_actor(), "keys.issue", "k2")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute(statement)
    assert len(await audit.entries(pool)) == 1


def test_every_act_of_the_commands_is_recorded(
    database_url: str, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table as on a wide terminal

    def run(*args: str) -> str:
        result = cli(*args, database_url=database_url)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout.strip()

    run("operators", "add", "alpha")
    key_id = run("keys", "issue", "--operator", "alpha", "--expires-in", "30d").split("_")[1]
    new_id = run("keys", "rotate", key_id, "--overlap", "1").split("_")[1]
    run("keys", "revoke", new_id)
    run("operators", "set", "alpha", "--rate", "50", "--concurrency", "4")
    run("operators", "disable", "alpha")
    assert cli("keys", "revoke", "nosuchkey", database_url=database_url).returncode == 1

    entries = orjson.loads(run("audit", "list", "--json"))
    acts = [(e["action"], e["subject"]) for e in entries]
    assert acts == [
        ("operators.add", "alpha"),
        ("keys.issue", key_id),
        ("keys.issue", new_id),
        ("keys.rotate", key_id),
        ("keys.revoke", new_id),
        ("operators.set", "alpha"),
        ("operators.disable", "alpha"),
    ]  # the failed revoke left no trace
    assert {e["actor"] for e in entries} == {audit.cli_actor().name}
    assert all(e["source"] and e["at"].endswith("Z") for e in entries)
    issue, rotate, set_ = entries[1], entries[3], entries[5]
    assert issue["details"]["scope"] == "operator" and issue["details"]["expires_at"]
    assert rotate["details"]["new_key_id"] == new_id
    assert set_["details"] == {
        "rate_per_s": {"from": None, "to": 50.0},
        "concurrency": {"from": None, "to": 4},
    }
    only_keys = orjson.loads(run("audit", "list", "--action", "keys", "--json"))
    assert [e["action"] for e in only_keys] == ["keys.issue", "keys.issue", "keys.rotate",
                                                "keys.revoke"]
    table = cli("audit", "list", "--limit", "2", database_url=database_url)
    assert table.returncode == 0 and "operators.add" in table.stdout
    wrong = cli("audit", "list", "--since", "yesterday", database_url=database_url)
    assert wrong.returncode == 2 and "since" in wrong.stderr and "Traceback" not in wrong.stderr


async def test_an_act_that_fails_leaves_no_trace(pool: asyncpg.Pool, add_operator) -> None:
    await add_operator("alpha")
    before = len(await audit.entries(pool))
    async with pool.acquire() as conn:
        with pytest.raises(PolicyInvalid):
            await operators.set_policy(
                conn,
                "alpha",
                lambda p: replace(p, require_client_cert=True),
                audit.cli_actor(),
            )
    assert len(await audit.entries(pool)) == before
    assert (await operators.get(pool, "alpha")).require_client_cert is False


async def test_the_trail_over_http_is_for_admin_keys(client, pool, add_operator) -> None:
    operator_key = await add_operator("alpha")
    async with pool.acquire() as conn:
        admin_id, admin = await keys.issue(conn, Scope.ADMIN, "ops", audit.cli_actor())
    assert (await client.get(AUDIT)).status == 401
    assert (await client.get(AUDIT, headers=bearer(operator_key))).status == 403

    response = await client.get(AUDIT, headers=bearer(admin))
    assert response.status == 200
    page = await response.json()
    assert [e["action"] for e in page["entries"]] == [
        "operators.add", "keys.issue", "keys.issue"
    ]
    assert page["entries"][-1]["subject"] == admin_id and page["next"] is None

    first = await (await client.get(AUDIT, params={"limit": "2"}, headers=bearer(admin))).json()
    assert len(first["entries"]) == 2 and first["next"] == first["entries"][-1]["id"]
    rest = await client.get(AUDIT, params={"after": str(first["next"])}, headers=bearer(admin))
    assert [e["id"] for e in first["entries"] + (await rest.json())["entries"]] == [
        e["id"] for e in page["entries"]
    ]
    filtered = await client.get(
        AUDIT, params={"action": "operators", "since": "2000-01-01"}, headers=bearer(admin)
    )
    assert [e["action"] for e in (await filtered.json())["entries"]] == ["operators.add"]
    for wrong in ({"since": "yesterday"}, {"limit": "0"}, {"after": "x"}, {"after": "-1"}):
        response = await client.get(AUDIT, params=wrong, headers=bearer(admin))
        assert response.status == 400, wrong
        assert (await response.json())["error"]["code"] == "bad_request"
