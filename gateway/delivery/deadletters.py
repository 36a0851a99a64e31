"""Dead letters: list them, and replay them at a bounded rate.

Replay returns rows to their queue with attempts reset and a new batch. It is paced by a
token bucket over rows (``pacing.RowBudget``): a replay of a big outage's dead letters
must not hit the endpoint that just recovered with everything at once. The CLI waits for
tokens; the admin API answers 429 with Retry-After when the bucket is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from gateway import audit
from gateway.audit import Actor
from gateway.canonical import format_time, parse_time
from gateway.delivery import outbox
from gateway.delivery.outbox import State
from gateway.delivery.pacing import RowBudget, paced
from gateway.store import Q, in_transaction

COLUMNS = ("id", "target", "operator", "item_id", "record_id", "revision", "attempts",
           "error_code", "http_status", "last_error", "batch_id", "created_at", "dead_at")


class FilterInvalid(ValueError):
    """A filter's value is unusable; ``name`` is the filter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name} {message}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Filters:
    """Which dead letters: None means any."""

    target: str | None = None
    operator: str | None = None
    since: datetime | None = None
    """Dead at or after."""
    until: datetime | None = None
    """Dead before."""
    code: str | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> Filters:
        """From query parameters, a JSON body or CLI options; FilterInvalid names the bad
        one. Times are ISO 8601, UTC when they carry no offset."""
        text = {}
        for name in ("target", "operator", "code", "since", "until"):
            value = values.get(name)
            if value is not None and not isinstance(value, str):
                raise FilterInvalid(name, "must be a string")
            text[name] = value or None
        times = {}
        for name in ("since", "until"):
            try:
                times[name] = parse_time(text[name]) if text[name] else None
            except ValueError:
                raise FilterInvalid(name, f"is not an ISO 8601 time: {text[name]!r}") from None
        return cls(text["target"], text["operator"], times["since"], times["until"], text["code"])

    def args(self) -> tuple[Any, ...]:
        return self.target, self.operator, self.since, self.until, self.code

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set, times in RFC 3339 (for the audit trail)."""
        names = ("target", "operator", "since", "until", "code")
        values = {name: getattr(self, name) for name in names}
        return {
            name: format_time(value) if isinstance(value, datetime) else value
            for name, value in values.items()
            if value is not None
        }


@dataclass(frozen=True, slots=True)
class Replayed:
    replayed: int
    """Rows back in the queue."""
    superseded: int
    """Rows not sent again because a newer revision of the item exists for the target."""

    @property
    def rows(self) -> int:
        return self.replayed + self.superseded


async def count(pool: asyncpg.Pool, filters: Filters) -> int:
    return await pool.fetchval(Q.count_dead_letters, *filters.args())


async def list_dead(
    pool: asyncpg.Pool, filters: Filters, *, limit: int, after: int = 0
) -> list[dict[str, Any]]:
    """Dead letters in id order, after the row id ``after`` (for paging)."""
    rows = await pool.fetch(Q.list_dead_letters, *filters.args(), after, limit)
    return [to_dict(row) for row in rows]


async def replay(conn: asyncpg.Connection, filters: Filters, limit: int) -> Replayed:
    """Up to ``limit`` matching dead letters back to their queue, oldest first, in the
    caller's transaction (beside its audit entry). A WriteConflict means that an ingest
    queued a newer revision meanwhile: run the transaction again (``in_transaction``)."""
    rows = await outbox.moved(conn, Q.replay_dead_letters, *filters.args(), limit)
    superseded = sum(1 for r in rows if r.state is State.SUPERSEDED)
    return Replayed(len(rows) - superseded, superseded)


async def replay_audited(
    pool: asyncpg.Pool, filters: Filters, limit: int, actor: Actor, via: str
) -> Replayed:
    """:func:`replay` in a transaction of its own with its audit entry (``via``: api,
    cli or console), run again when it loses a race with an ingest."""

    async def work(conn: asyncpg.Connection) -> Replayed:
        done = await replay(conn, filters, limit)
        details = {"via": via, "filters": filters.as_dict(), "replayed": done.replayed,
                   "superseded": done.superseded}
        await audit.record(conn, actor, "deadletters.replay", filters.target, details)
        return done

    return await in_transaction(pool, work)


async def replay_paced(
    pool: asyncpg.Pool, filters: Filters, limit: int, budget: RowBudget, actor: Actor,
    progress: Callable[[int], None] = lambda _done: None,
) -> Replayed:
    """Replay up to ``limit`` rows in chunks of what the budget allows."""
    replayed = superseded = 0

    async def step(allowed: int) -> tuple[int, bool]:
        nonlocal replayed, superseded
        wanted = min(limit - replayed - superseded, allowed)
        chunk = await replay_audited(pool, filters, wanted, actor, "cli")
        replayed += chunk.replayed
        superseded += chunk.superseded
        progress(replayed + superseded)
        return chunk.rows, chunk.rows < wanted or replayed + superseded >= limit

    if limit > 0:
        await paced(budget, step)
    return Replayed(replayed, superseded)


def to_dict(row: asyncpg.Record) -> dict[str, Any]:
    """A dead letter as JSON-ready values: ids as strings, times UTC RFC 3339."""
    out: dict[str, Any] = {}
    for column in COLUMNS:
        value = row[column]
        if isinstance(value, datetime):
            value = format_time(value)
        elif column in ("record_id", "batch_id") and value is not None:
            value = str(value)
        out[column] = value
    return out
