"""The outbox as a queue: claim a leased batch, settle it row by row, reap expired leases.

Every state change is one statement on the database, so that any number of workers in
any number of processes can share a queue: a row is only ever held by one lease, and a
worker whose lease expired cannot settle a row that another worker holds now.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import asyncpg

from gateway.store import Q, WriteConflict, in_transaction


class State(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    DEAD = "dead"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    operator: str
    item_id: str
    record_id: uuid.UUID | None
    """The record a targeting row carries; None on a decision row."""
    revision: int
    attempts: int
    """Attempts including the one this claim is for."""
    decision_id: uuid.UUID | None = None
    """The decision a callback row carries; None on a record row."""
    body: bytes | None = None
    """The record's stored JSON, read with the claim; None on a decision row."""
    destination: str | None = None
    """The record's destination country (a stream subject may name it)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows leased together; ``batch_id`` is the Idempotency-Key of their POST."""

    queue: str
    batch_id: uuid.UUID
    lease_id: uuid.UUID
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Settlement:
    """What becomes of one row after an attempt."""

    row_id: int
    state: State
    batch_id: uuid.UUID | None
    """The batch the row is retried in: the same one, a new one (split), None (fresh)."""
    delay_s: float = 0.0
    refund: int = 0
    """1 when the attempt should not count against the row (a batch split)."""
    error: str | None = None
    code: str | None = None
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    """The state one row ended in, and its error code."""

    state: State
    code: str | None


async def claim(
    pool: asyncpg.Pool, queue: str, limit: int, lease: timedelta
) -> Batch | None:
    """Lease up to ``limit`` due rows of ``queue``; None when nothing is due."""
    lease_id = uuid.uuid4()
    records = await pool.fetch(Q.claim_outbox, queue, limit, lease, uuid.uuid4(), lease_id)
    if not records:
        return None
    records = sorted(records, key=lambda r: (r["priority"], r["id"]))
    rows = tuple(
        Row(
            r["id"], r["operator"], r["item_id"], r["record_id"], r["revision"], r["attempts"],
            r["decision_id"], r["body"], r["destination"],
        )
        for r in records
    )
    return Batch(queue, records[0]["batch_id"], lease_id, rows)


async def settle(
    pool: asyncpg.Pool, batch: Batch, settlements: Sequence[Settlement]
) -> list[Settled]:
    """Apply the settlements to the rows this batch's lease still holds (a row that is no
    longer held, its lease expired, is left alone and not returned)."""
    if all(s.state is State.DELIVERED and s.batch_id == batch.batch_id for s in settlements):
        status = await pool.execute(Q.deliver_outbox, batch.lease_id)
        return [Settled(State.DELIVERED, None)] * int(status.rpartition(" ")[2])
    # In (operator, item id) order, as ingest writes the one-pending-row key: rows going
    # back to the queue and ingest's new rows then never wait on each other in a cycle.
    key = {r.id: (r.operator, r.item_id, r.id) for r in batch.rows}
    settlements = sorted(settlements, key=lambda s: key.get(s.row_id, ("", "", s.row_id)))
    args = (
        batch.lease_id,
        [s.row_id for s in settlements],
        [s.state.value for s in settlements],
        [s.batch_id for s in settlements],
        [s.delay_s for s in settlements],
        [s.refund for s in settlements],
        [s.error for s in settlements],
        [s.code for s in settlements],
        [s.http_status for s in settlements],
    )
    return await move(pool, Q.settle_outbox, *args)


async def reap(pool: asyncpg.Pool, queue: str, max_attempts: int) -> list[Settled]:
    """Return rows whose lease expired to the queue (dead when out of attempts)."""
    return await move(pool, Q.reap_outbox, queue, max_attempts)


@dataclass(frozen=True, slots=True)
class Depth:
    """Rows of a queue per live state, and how long the oldest of each has waited."""

    rows: dict[State, int]
    oldest_s: dict[State, float]


async def depth(pool: asyncpg.Pool, queue: str) -> Depth:
    records = await pool.fetch(Q.outbox_depth, queue)
    return Depth(
        {State(r["state"]): r["n"] for r in records},
        {State(r["state"]): r["age_s"] for r in records},
    )


async def move(pool: asyncpg.Pool, query: str, *args: object) -> list[Settled]:
    """Run ``moved`` in a transaction of its own, again when it loses a race."""
    return await in_transaction(pool, lambda conn: moved(conn, query, *args))


async def moved(conn: asyncpg.Connection, query: str, *args: object) -> list[Settled]:
    """Run a statement that moves rows between states (returning ``state`` and
    ``error_code``). A row going back to ``pending`` while an ingest queues a newer
    revision of its item trips the one-pending-row index: that is a WriteConflict, and
    run again, the statement sees the newer row and supersedes. Settling, reaping and
    replaying all race ingest so."""
    try:
        records = await conn.fetch(query, *args)
    except asyncpg.UniqueViolationError as exc:
        raise WriteConflict(str(exc)) from exc
    return [Settled(State(r["state"]), r["error_code"]) for r in records]
