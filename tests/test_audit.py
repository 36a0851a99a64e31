"""The audit trail is append-only and reads back in order, filtered by action."""

from __future__ import annotations

import asyncpg
import pytest

from gateway import audit


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
