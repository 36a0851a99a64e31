"""Dead letters: list them, and replay them at a bounded rate.

Replay returns rows to their queue with attempts reset and a new batch. It is paced by a
token bucket over rows (``ReplayBudget``): a replay of a big outage's dead letters must
not hit the endpoint that just recovered with everything at once. The CLI waits for
tokens; the admin API answers 429 with Retry-After when the bucket is empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway import audit
from gateway.audit import Actor
from gateway.canonical import format_time
from gateway.delivery.outbox import State
from gateway.limits import TokenBucket
from gateway.store import Q, in_transaction

COLUMNS = ("id", "target", "operator", "item_id", "record_id", "revision", "attempts",
           "error_code", "http_status", "last_error", "batch_id", "created_at", "dead_at")


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
        """From query parameters, a JSON body or CLI options; ValueError names the bad one.
        Times are ISO 8601, UTC when they carry no offset."""
        text = {}
        for name in ("target", "operator", "code", "since", "until"):
            value = values.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
            text[name] = value or None
        times = {}
        for name in ("since", "until"):
            try:
                when = datetime.fromisoformat(text[name]) if text[name] else None
            except ValueError:
                raise ValueError(f"{name} is not an ISO 8601 time: {text[name]!r}") from None
            times[name] = when.replace(tzinfo=UTC) if when and when.tzinfo is None else when
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


async def replay(
    pool: asyncpg.Pool, filters: Filters, limit: int, actor: Actor, via: str
) -> Replayed:
    """Up to ``limit`` matching dead letters back to their queue, oldest first; the
    replay is in the audit trail (``via``: api, cli or console), committed with it."""

    async def work(conn: asyncpg.Connection) -> Replayed:
        rows = await conn.fetch(Q.replay_dead_letters, *filters.args(), limit)
        superseded = sum(1 for r in rows if r["state"] == State.SUPERSEDED)
        done = Replayed(len(rows) - superseded, superseded)
        details = {"via": via, "filters": filters.as_dict(), "replayed": done.replayed,
                   "superseded": superseded}
        await audit.record(conn, actor, "deadletters.replay", filters.target, details)
        return done

    return await in_transaction(pool, work)


async def replay_paced(
    pool: asyncpg.Pool, filters: Filters, limit: int, budget: ReplayBudget, actor: Actor,
    progress: Callable[[int], None] = lambda _done: None,
) -> Replayed:
    """Replay in chunks of what the budget allows, sleeping until it refills."""
    replayed = superseded = 0
    while replayed + superseded < limit:
        allowed = min(limit - replayed - superseded, budget.available())
        if allowed < 1:
            await asyncio.sleep(budget.wait_s())
            continue
        chunk = await replay(pool, filters, allowed, actor, "cli")
        budget.spend(chunk.rows)
        replayed += chunk.replayed
        superseded += chunk.superseded
        progress(replayed + superseded)
        if chunk.rows < allowed:
            break
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


class ReplayBudget(TokenBucket):
    """A token bucket over replayed rows: ``rate`` rows per second, at most ``burst``
    at once."""
