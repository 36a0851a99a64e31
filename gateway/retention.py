"""The data lifecycle: how long each kind of data is kept, and the purge that removes it.

Kinds, each with its retention in days (``[retention]``; 0 keeps it forever):

- ``raw``: archived message bodies are blanked; their SHA-256, size, content type,
  receipt (counts, codes) and times stay.
- ``personal``: the personal fields of stored records (names, addresses but their
  country, phones, e-mails, tax ids) are blanked in the stored bytes.
- ``delivered``: outbox rows whose delivery is over (delivered, superseded).
- ``dead_letters``: dead letters, no longer kept for a replay.
- ``records``: feed entries, with the settled outbox rows and the decisions on them,
  never one that a target has still to receive (pending, in flight, or a dead letter
  still kept) or with a decision younger than the cutoff or still to be pushed
  (``record_purgeable`` in migration 0009). Each feed's purge mark moves past what was
  deleted: a cursor below it is answered 410 ``cursor_purged``.
- ``items``, ``messages`` (``state_days``, at least 365): an item's revision state
  (a resend goes on from its last revision: S10 ids are not reused within 12 months)
  and the archived message rows, once no record refers to them.

Kept whatever the settings: the audit trail, and the daily rollups a scorecard reads,
which are computed from records and messages: a purge first makes every day it would
touch final in the rollups (``gateway.rollups.ensure``) and deletes no record or message
of a later day.

A purge runs in batches of ``batch_size`` rows, each a short transaction of its own that
skips rows someone else holds: ingest never waits for it (ingest writes new rows, a
purge old ones), and a long purge never holds back the feed, which reads only below the
oldest running transaction. Each batch is recorded in the audit trail in its own
transaction. One purge runs at a time across all processes (an advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import asyncpg
import orjson

from gateway import audit, rollups
from gateway.audit import Actor
from gateway.canonical import format_time
from gateway.config import Retention
from gateway.feed import Cursor
from gateway.logging import get_logger
from gateway.store import Q, StorageBusy, StorageUnavailable, WritesRefused, in_transaction

log = get_logger(__name__)


class Kind(StrEnum):
    """What a purge removes, in the order it does."""

    RAW = "raw"
    PERSONAL = "personal"
    DELIVERED = "delivered"
    DEAD_LETTERS = "dead_letters"
    RECORDS = "records"
    ITEMS = "items"
    MESSAGES = "messages"


DAYS_SETTING = {
    Kind.RAW: "raw_days",
    Kind.PERSONAL: "personal_days",
    Kind.DELIVERED: "delivered_days",
    Kind.DEAD_LETTERS: "dead_letter_days",
    Kind.RECORDS: "feed_days",
    Kind.ITEMS: "state_days",
    Kind.MESSAGES: "state_days",
}
"""The ``[retention]`` setting that keeps each kind."""

COUNT = {
    Kind.RAW: Q.count_raw,
    Kind.PERSONAL: Q.count_personal,
    Kind.DELIVERED: Q.count_delivered,
    Kind.DEAD_LETTERS: Q.count_dead_letters_due,
    Kind.RECORDS: Q.count_records,
    Kind.ITEMS: Q.count_items,
    Kind.MESSAGES: Q.count_messages,
}
"""How many rows of each kind are older than a cutoff and may go (the dry run)."""


class PurgeRunning(RuntimeError):
    """Another process is purging now."""


@dataclass(frozen=True, slots=True)
class Loss:
    """A registered feed consumer that would never read ``records`` records."""

    name: str
    cursor: str
    records: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "cursor": self.cursor, "records": self.records}


@dataclass(slots=True)
class Report:
    """What a purge removed (or, dry, would remove) of each kind, and who loses records."""

    dry_run: bool
    cutoffs: dict[Kind, datetime | None]
    rows: dict[Kind, int] = field(default_factory=dict)
    losses: list[Loss] = field(default_factory=list)

    def table(self, retention: Retention) -> list[dict[str, Any]]:
        return [
            {
                "kind": kind.value,
                "retention_days": getattr(retention, DAYS_SETTING[kind]) or None,
                "before": format_time(cutoff) if cutoff else None,
                "rows": self.rows.get(kind, 0),
            }
            for kind, cutoff in self.cutoffs.items()
        ]

    def to_dict(self, retention: Retention) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "kinds": self.table(retention),
            "consumers_losing_records": [loss.to_dict() for loss in self.losses],
        }


ROLLED_UP = (Kind.RECORDS, Kind.MESSAGES)
"""The kinds the daily rollups are computed from."""


def cutoffs(retention: Retention, now: datetime | None = None) -> dict[Kind, datetime | None]:
    """Rows older than each kind's cutoff may go; None keeps the kind forever."""
    now = now or datetime.now(UTC)
    days = {kind: getattr(retention, setting) for kind, setting in DAYS_SETTING.items()}
    return {kind: now - timedelta(days=n) if n > 0 else None for kind, n in days.items()}


def within_rollups(
    cutoffs: dict[Kind, datetime | None], final: date | None
) -> dict[Kind, datetime | None]:
    """The cutoffs, with the rolled-up kinds kept to days whose rollups are final."""
    if final is None:  # no data yet: nothing to roll up, nothing to purge
        return cutoffs
    bound = datetime.combine(final + timedelta(days=1), time.min, UTC)
    return {
        kind: min(cutoff, bound) if cutoff and kind in ROLLED_UP else cutoff
        for kind, cutoff in cutoffs.items()
    }


def _rollups_through(cutoffs: dict[Kind, datetime | None]) -> date | None:
    """The last day a purge at these cutoffs would touch in the rolled-up kinds."""
    days = [cutoffs[kind].date() for kind in ROLLED_UP if cutoffs[kind] is not None]
    return max(days) if days else None


def blank_personal(record: dict[str, Any]) -> dict[str, Any]:
    """The one rewrite of a stored record's personal data: every field of its sender
    and addressee is emptied (None, or an empty list), except the address's country,
    which routing and statistics need and which names no one."""
    blank = dict(record)
    for role in ("sender", "addressee"):
        party = record.get(role)
        if isinstance(party, dict):
            blank[role] = {
                name: _empty(value, keep=("country",) if name == "address" else ())
                for name, value in party.items()
            }
    return blank


def _empty(value: Any, keep: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        return {k: v if k in keep else _empty(v) for k, v in value.items()}
    return [] if isinstance(value, list) else None


async def dry_run(pool: asyncpg.Pool, retention: Retention, now: datetime | None = None) -> Report:
    """What a purge now would remove, and the registered consumers who would lose
    records they have not read. Nothing is written: the rollups are taken as final
    through the day a purge would make final before it deletes."""
    now = now or datetime.now(UTC)
    report = Report(dry_run=True, cutoffs=cutoffs(retention, now))
    through = _rollups_through(report.cutoffs)
    if through is not None:
        final = min(through, rollups.last_final_day(now))
        report.cutoffs = within_rollups(report.cutoffs, final)
    for kind, cutoff in report.cutoffs.items():
        if cutoff is not None:
            report.rows[kind] = await pool.fetchval(COUNT[kind], cutoff)
    report.losses = await _losses(pool, report.cutoffs[Kind.RECORDS])
    return report


async def purge(
    pool: asyncpg.Pool,
    retention: Retention,
    actor: Actor,
    now: datetime | None = None,
    progress: Callable[[Kind, int], None] = lambda _kind, _rows: None,
) -> Report:
    """Remove every kind of data past its retention, batch by batch; PurgeRunning when
    another process is purging."""
    report = Report(dry_run=False, cutoffs=cutoffs(retention, now))
    run = str(uuid.uuid4())
    async with _exclusive(pool):
        through = _rollups_through(report.cutoffs)
        if through is not None:
            final = await rollups.ensure(pool, through)
            report.cutoffs = within_rollups(report.cutoffs, final)
        report.losses = await _losses(pool, report.cutoffs[Kind.RECORDS])
        for kind, cutoff in report.cutoffs.items():
            if cutoff is None:
                continue
            report.rows[kind] = 0
            details: dict[str, Any] = {"run": run, "before": format_time(cutoff)}
            if kind is Kind.RECORDS and report.losses:
                details["consumers_losing_records"] = {x.name: x.records for x in report.losses}
            while True:
                done = await in_transaction(
                    pool,
                    lambda conn, kind=kind, cutoff=cutoff, details=details: _batch(
                        conn, kind, cutoff, retention.batch_size, actor, details
                    ),
                )
                report.rows[kind] += done
                progress(kind, report.rows[kind])
                if done < retention.batch_size:
                    break
    return report


async def _batch(
    conn: asyncpg.Connection,
    kind: Kind,
    cutoff: datetime,
    limit: int,
    actor: Actor,
    details: dict[str, Any],
) -> int:
    """One batch of one kind, recorded in the audit trail in the same transaction."""
    done, extra = await BATCHES[kind](conn, cutoff, limit)
    if done:
        await audit.record(conn, actor, f"purge.{kind}", None, details | extra | {"rows": done})
    return done


Extra = dict[str, Any]


async def _since(conn: asyncpg.Connection, kind: Kind) -> datetime:
    """Where the in-place purge of ``kind`` got to last time: it goes on from there."""
    return await conn.fetchval(Q.purge_progress, kind.value) or datetime.min.replace(tzinfo=UTC)


async def _raw(conn: asyncpg.Connection, cutoff: datetime, limit: int) -> tuple[int, Extra]:
    rows = await conn.fetch(Q.purge_raw, await _since(conn, Kind.RAW), cutoff, limit)
    if rows:
        await conn.execute(Q.advance_purge_progress, Kind.RAW.value, rows[-1]["received_at"])
    return len(rows), {}


async def _personal(conn: asyncpg.Connection, cutoff: datetime, limit: int) -> tuple[int, Extra]:
    rows = await conn.fetch(Q.personal_due, await _since(conn, Kind.PERSONAL), cutoff, limit)
    if rows:
        bodies = [orjson.dumps(blank_personal(orjson.loads(row["body"]))) for row in rows]
        await conn.execute(Q.rewrite_personal, [row["record_id"] for row in rows], bodies)
        await conn.execute(Q.advance_purge_progress, Kind.PERSONAL.value, rows[-1]["created_at"])
    return len(rows), {}


async def _delivered(conn: asyncpg.Connection, cutoff: datetime, limit: int) -> tuple[int, Extra]:
    return await conn.fetchval(Q.purge_delivered, cutoff, limit), {}


async def _dead_letters(
    conn: asyncpg.Connection, cutoff: datetime, limit: int
) -> tuple[int, Extra]:
    return await conn.fetchval(Q.purge_dead_letters, cutoff, limit), {}


async def _records(conn: asyncpg.Connection, cutoff: datetime, limit: int) -> tuple[int, Extra]:
    """Delete records with what hangs on them, and move both feeds' purge marks."""
    doomed = await conn.fetch(Q.records_due, cutoff, limit)
    if not doomed:
        return 0, {}
    ids = [row["record_id"] for row in doomed]
    await conn.execute(Q.delete_record_outbox, ids)
    decisions = await conn.fetch(Q.delete_record_decisions, ids)
    await conn.execute(Q.delete_records, ids)
    through = max(Cursor(row["xid"], row["seq"]) for row in doomed)
    await conn.execute(Q.advance_purge_mark, "records", str(through.xid), through.seq)
    extra: Extra = {"records_through": through.encode(), "decisions": len(decisions)}
    if decisions:
        last = max(Cursor(row["xid"], row["seq"]) for row in decisions)
        await conn.execute(Q.advance_purge_mark, "outcomes", str(last.xid), last.seq)
        extra["outcomes_through"] = last.encode()
    return len(doomed), extra


async def _items(conn: asyncpg.Connection, cutoff: datetime, limit: int) -> tuple[int, Extra]:
    return await conn.fetchval(Q.purge_items, cutoff, limit), {}


async def _messages(conn: asyncpg.Connection, cutoff: datetime, limit: int) -> tuple[int, Extra]:
    ids = [row["message_id"] for row in await conn.fetch(Q.messages_due, cutoff, limit)]
    if ids:
        await conn.execute(Q.delete_messages, ids)
    return len(ids), {}


Batch = Callable[[asyncpg.Connection, datetime, int], Awaitable[tuple[int, Extra]]]
BATCHES: dict[Kind, Batch] = {
    Kind.RAW: _raw,
    Kind.PERSONAL: _personal,
    Kind.DELIVERED: _delivered,
    Kind.DEAD_LETTERS: _dead_letters,
    Kind.RECORDS: _records,
    Kind.ITEMS: _items,
    Kind.MESSAGES: _messages,
}


async def _losses(pool: asyncpg.Pool, cutoff: datetime | None) -> list[Loss]:
    if cutoff is None:
        return []
    rows = await pool.fetch(Q.consumer_losses, cutoff)
    return [Loss(r["name"], Cursor(r["xid"], r["seq"]).encode(), r["records"]) for r in rows]


@contextlib.asynccontextmanager
async def _exclusive(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """Hold the purge lock on a connection of its own for the whole run."""
    async with pool.acquire() as conn:
        if not await conn.fetchval(Q.purge_lock):
            raise PurgeRunning("another process is purging now")
        try:
            yield
        finally:
            try:
                await conn.execute(Q.purge_unlock)
            except BaseException:
                # Pooled connections are not reset on release (gateway.store): a
                # connection that may still hold the session lock must not go back.
                conn.terminate()
                raise


def scheduler_actor() -> Actor:
    """How the audit trail names a purge that ``aedgw serve`` ran on its schedule."""
    host = socket.gethostname()
    return Actor(f"schedule:{host}:{os.getpid()}", host)


async def every(pool: asyncpg.Pool, retention: Retention, stopping: asyncio.Event) -> None:
    """Purge every ``retention.every_s`` (the first run soon after the start, so that a
    gateway restarted more often than that still purges), until ``stopping`` is set."""
    wait_s = min(retention.every_s, 60.0)
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), wait_s)
        if stopping.is_set():
            return
        wait_s = retention.every_s
        try:
            report = await purge(pool, retention, scheduler_actor())
            log.info("purged", rows={k.value: n for k, n in report.rows.items()})
        except PurgeRunning:
            log.info("purge_skipped", reason="another process is purging")
        except (*StorageUnavailable, *StorageBusy, *WritesRefused) as exc:
            log.warning("purge_failed", error=type(exc).__name__)
        except Exception:  # the schedule lives on; the next run tries again
            log.exception("purge_error")
