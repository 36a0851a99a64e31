"""Dead letters: list them, and replay them at a bounded rate.

Replay returns rows to their queue with attempts reset and a new batch. It is paced by a
token bucket over rows (``ReplayBudget``): a replay of a big outage's dead letters must
not hit the endpoint that just recovered with everything at once. The CLI waits for
tokens; the admin API answers 429 with Retry-After when the bucket is empty.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.canonical import format_time
from gateway.delivery.outbox import State
from gateway.store import Q

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
    pool: asyncpg.Pool | asyncpg.Connection, filters: Filters, limit: int
) -> Replayed:
    """Up to ``limit`` matching dead letters back to their queue, oldest first (on a
    connection: in its transaction, beside the audit entry)."""
    rows = await pool.fetch(Q.replay_dead_letters, *filters.args(), limit)
    superseded = sum(1 for r in rows if r["state"] == State.SUPERSEDED)
    return Replayed(len(rows) - superseded, superseded)


async def replay_paced(
    pool: asyncpg.Pool, filters: Filters, limit: int, budget: ReplayBudget,
    progress: Callable[[int], None] = lambda _done: None,
) -> Replayed:
    """Replay in chunks of what the budget allows, sleeping until it refills."""
    replayed = superseded = 0
    while replayed + superseded < limit:
        allowed = min(limit - replayed - superseded, budget.available())
        if allowed < 1:
            await asyncio.sleep(budget.wait_s())
            continue
        chunk = await replay(pool, filters, allowed)
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


class ReplayBudget:
    """A token bucket over replayed rows: ``rate`` rows per second, at most ``burst``
    at once. Spending more than is there leaves a debt that later calls wait out."""

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def available(self) -> int:
        """Whole rows that may be replayed now."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return int(self._tokens)

    def wait_s(self) -> float:
        """Seconds until at least one row may be replayed."""
        return 0.0 if self.available() >= 1 else (1 - self._tokens) / self.rate

    def spend(self, rows: int) -> None:
        self.available()
        self._tokens -= rows
