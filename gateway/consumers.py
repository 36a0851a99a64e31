"""Pull consumers of the records feed that register their position.

Registering is optional and changes nothing about what a consumer reads: it lets a
purge report, before it deletes old records, which consumers have not read them yet
(``aedgw purge --dry-run``, and the audit trail of the purge itself). A consumer
registers the cursor up to which it has kept everything, under a name of its choice.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from gateway import audit
from gateway.audit import Actor
from gateway.canonical import format_time
from gateway.feed import Cursor
from gateway.store import Q

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class NameInvalid(ValueError):
    """Not a consumer name: 1 to 64 letters, digits, ``_ . : -``, starting alphanumeric."""


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise NameInvalid(
            "a consumer name is 1 to 64 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit"
        )
    return name


def to_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "name": row["name"],
        "cursor": Cursor(row["xid"], row["seq"]).encode(),
        "updated_by": row["updated_by"],
        "updated_at": format_time(row["updated_at"]),
    }


async def register(pool: asyncpg.Pool, name: str, cursor: Cursor, by: str) -> dict[str, Any]:
    """Set consumer ``name``'s position (forward or back: it is the consumer's own)."""
    row = await pool.fetchrow(
        Q.register_consumer, check_name(name), str(cursor.xid), cursor.seq, by
    )
    return to_dict(row)


async def listed(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [to_dict(row) for row in await pool.fetch(Q.list_consumers)]


async def forget(pool: asyncpg.Pool, name: str, actor: Actor) -> bool:
    """Unregister a consumer (an administrative act, audited); False if unknown."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(Q.forget_consumer, name) is None:
            return False
        await audit.record(conn, actor, "consumers.forget", name)
    return True
