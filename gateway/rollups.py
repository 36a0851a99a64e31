"""Daily rollups: per operator and UTC day, the counts the data-quality scorecard is made of.

They are computed set-based, a few days per statement, from the stored records and
receipts (``compute_rollups`` in store/queries/rollups.sql): never on the ingest path.
A day's rollups become final an hour after the day ends (no transaction that started
that day is still open) and are never recomputed, so the purge may delete a day's
records and messages once :func:`ensure` has run through it; rollups are never purged.
Later days (today) are partial and recomputed on each refresh: by the periodic task in
``aedgw serve`` and on demand by the scorecard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg

from gateway.logging import get_logger
from gateway.store import Q, StorageUnavailable

log = get_logger(__name__)

FINAL_AFTER = timedelta(hours=1)
"""How long after a UTC day ends its rollups are computed for good."""
DAYS_PER_STATEMENT = 7
COMPUTE_TIMEOUT_S = 3600.0
"""A first run over a long history may take a while; it holds no lock ingest needs."""


def last_final_day(now: datetime) -> date:
    """The latest day whose rollups can no longer change."""
    return (now - FINAL_AFTER).date() - timedelta(days=1)


def today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


async def ensure(pool: asyncpg.Pool, through: date, *, max_age_s: float = 0.0) -> date | None:
    """Make sure every day up to ``through`` has rollups. Days that are over get final
    rollups once; later days (today) are recomputed unless all were computed less than
    ``max_age_s`` ago. Returns the last day whose rollups are final (None before any
    data): the purge calls this and deletes no data of a later day, whose rollups a
    refresh would recompute from what is left."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(Q.lock_rollups)
        done = await conn.fetchval(Q.rollups_final_through)
        if done is None:
            first = await conn.fetchval(Q.rollups_first_day)
            if first is None:
                return None  # no operator yet, nothing to roll up
            done = first.date() - timedelta(days=1)  # nothing before the first day
            await conn.execute(Q.set_rollups_final_through, done)
        final = min(through, last_final_day(now))
        if final > done:
            await _compute(conn, done + timedelta(days=1), final, final=True)
            await conn.execute(Q.set_rollups_final_through, final)
            done = final
        partial = done + timedelta(days=1)
        if partial <= through and not (
            max_age_s > 0 and await conn.fetchval(Q.rollups_fresh, partial, max_age_s)
        ):
            await _compute(conn, partial, through, final=False)
    return done


async def _compute(conn: asyncpg.Connection, first: date, last: date, *, final: bool) -> None:
    day = first
    while day <= last:
        end = min(day + timedelta(days=DAYS_PER_STATEMENT - 1), last)
        await conn.execute(Q.compute_rollups, day, end, final, timeout=COMPUTE_TIMEOUT_S)
        day = end + timedelta(days=1)


async def refresh_periodically(pool: asyncpg.Pool, interval_s: float) -> None:
    """``aedgw serve``'s task: today's rollups at most ``interval_s`` old, and every
    finished day final. Every process runs it; a process that finds the rollups fresh
    (another one just computed them) does nothing."""
    while True:
        try:
            await ensure(pool, today(), max_age_s=interval_s / 2)
        except (*StorageUnavailable, asyncpg.PostgresError) as exc:
            log.warning("rollups_failed", error=type(exc).__name__)
        except Exception:
            log.exception("rollups_error")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def running(pool: asyncpg.Pool, interval_s: float) -> AsyncIterator[asyncio.Task[None]]:
    """The periodic refresh as a background task for the life of the block."""
    task = asyncio.create_task(refresh_periodically(pool, interval_s), name="rollups")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
