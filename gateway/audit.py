"""The audit trail: who did which administrative act, when and from where.

Every command or endpoint that changes keys, operators, queues or data calls
:func:`record` in the same transaction as the change, so that an act and its trace
commit together or not at all. The table refuses UPDATE and DELETE (migration 0006).
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from gateway.canonical import format_time
from gateway.store import Q


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an admin key id, or ``cli:<user>@<host>``; ``source`` is where from."""

    name: str
    source: str | None = None


def cli_actor() -> Actor:
    """The person at this terminal, as the audit trail names a CLI user."""
    host = socket.gethostname()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = "unknown"
    return Actor(f"cli:{user}@{host}", host)


async def record(
    conn: asyncpg.Connection | asyncpg.Pool,
    actor: Actor,
    action: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one act; ``action`` is dotted (``keys.revoke``), ``subject`` what it acted on."""
    details_json = orjson.dumps(details or {}).decode()
    await conn.execute(Q.insert_audit, actor.name, action, subject, details_json, actor.source)


async def entries(
    pool: asyncpg.Pool | asyncpg.Connection,
    *,
    since: datetime | None = None,
    action: str | None = None,
    actor: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Acts in the order they happened; ``action`` matches itself and its sub-actions."""
    rows = await pool.fetch(Q.list_audit, since, action, actor, after_id, limit)
    return [
        {
            "id": row["id"],
            "at": format_time(row["at"]),
            "actor": row["actor"],
            "action": row["action"],
            "subject": row["subject"],
            "details": row["details"],
            "source": row["source"],
        }
        for row in rows
    ]
