"""Backfill: give a target the records accepted before it was configured.

Ingest routes a record to the targets configured when it is accepted; a target added
later gets only what comes after it, unless someone backfills it. A backfill walks the
items in key order and queues, for each item the target's routes take, its latest
revision accepted since a time, unless the target already has that revision (or a later
one) pending, in flight or delivered: so a rerun queues nothing. It is paced (rows per
second) and each chunk commits with its audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway import audit
from gateway.config import Target
from gateway.delivery.pacing import RowBudget, paced
from gateway.store import Q, in_transaction

PAGE = 500
"""Items examined per statement at most."""


@dataclass(slots=True)
class Backfilled:
    """What a backfill did, item by item."""

    examined: int = 0
    """Items whose latest revision was accepted in the window."""
    not_routed: int = 0
    """Of those, items the target's routes do not take."""
    queued: int = 0
    """Items whose latest revision is now queued for the target."""
    present: int = 0
    """Items the target already had (pending, in flight or delivered)."""


async def backfill(
    pool: asyncpg.Pool,
    target: Target,
    budget: RowBudget,
    actor: audit.Actor,
    *,
    since: datetime | None = None,
    operator: str | None = None,
    progress: Callable[[Backfilled], None] = lambda _done: None,
) -> Backfilled:
    """Queue for ``target`` what it never got (see the module's docstring)."""
    done = Backfilled()
    after = ("", "")

    async def step(allowed: int) -> tuple[int, bool]:
        nonlocal after
        rows = await pool.fetch(
            Q.backfill_candidates, since, operator, *after, min(allowed, PAGE)
        )
        if not rows:
            return 0, True
        after = (rows[-1]["operator"], rows[-1]["item_id"])
        routed = [r for r in rows if target.receives(r["operator"], r["destination"])]
        queued = await in_transaction(pool, lambda conn: _queue(conn, routed))
        done.examined += len(rows)
        done.not_routed += len(rows) - len(routed)
        done.queued += queued
        done.present += len(routed) - queued
        progress(done)
        return queued, len(rows) < min(allowed, PAGE)

    async def _queue(conn: asyncpg.Connection, routed: list[asyncpg.Record]) -> int:
        if not routed:
            return 0
        queued = await conn.fetch(
            Q.backfill_outbox,
            target.name,
            [r["operator"] for r in routed],
            [r["item_id"] for r in routed],
        )
        if queued:
            details = {"since": since.isoformat() if since else None, "operator": operator,
                       "queued": len(queued)}
            await audit.record(conn, actor, "targets.backfill", target.name, details)
        return len(queued)

    await paced(budget, step)
    return done
