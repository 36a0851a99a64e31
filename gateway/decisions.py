"""The way back: customs decisions on items, kept and passed to the operator that sent
the item, through its outcomes feed and, where its profile has a callback URL, pushed.

A decision names an item (and its operator where two operators use the id) and may name
the revision it was made on; one made on a revision that was superseded meanwhile is kept
and passed on marked ``superseded``. Posting the same decision again (same item, revision,
code and reference) is answered with the first one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg

from gateway.canonical import format_time
from gateway.feed import START, Cursor, FeedSignal, ItemAmbiguous, Page, check_kept, long_poll
from gateway.store import Q, in_transaction

OUTCOMES_CHANNEL = "aedgw_outcomes"
PRIORITY_DO_NOT_LOAD = 0
"""Ahead of every other row of the operator's callback queue (records use 100)."""
PRIORITY_DECISION = 100


def callback_queue(operator: str) -> str:
    """The outbox queue of an operator's pushed decisions."""
    return f"callback:{operator}"


class DecisionCode(StrEnum):
    """The canonical decision codes (DOMAIN.md, "Customs outcomes")."""

    ASSESSMENT_COMPLETE = "ASSESSMENT_COMPLETE"
    RELEASE = "RELEASE"
    HOLD = "HOLD"
    INFO_REQUESTED = "INFO_REQUESTED"
    SCREENING_REQUESTED = "SCREENING_REQUESTED"
    DO_NOT_LOAD = "DO_NOT_LOAD"
    DETAINED = "DETAINED"
    RETURN_TO_SENDER = "RETURN_TO_SENDER"


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    item_id: str
    code: DecisionCode
    reference: str
    reason: str | None
    operator: str | None = None
    revision: int | None = None


class ItemNotFound(LookupError):
    """No item (or no such revision of it) is known."""


@dataclass(frozen=True, slots=True)
class Recorded:
    decision: dict[str, Any]
    created: bool
    """False when the same decision was posted before: the first one is answered."""


def decision_to_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "decision_id": str(row["decision_id"]),
        "operator": row["operator"],
        "item_id": row["item_id"],
        "revision": row["revision"],
        "record_id": str(row["record_id"]),
        "code": row["code"],
        "reference": row["reference"],
        "reason": row["reason"],
        "decided_by": row["decided_by"],
        "decided_at": format_time(row["decided_at"]),
        "superseded": row["superseded"],
    }


async def decide(pool: asyncpg.Pool, request: DecisionRequest, decided_by: str) -> Recorded:
    """Keep a decision on the revision it names (the latest when it names none)."""
    return await in_transaction(pool, lambda conn: _decide(conn, request, decided_by))


async def _decide(
    conn: asyncpg.Connection, request: DecisionRequest, decided_by: str
) -> Recorded:
    rows = await conn.fetch(Q.decision_targets, request.item_id, request.operator)
    if not rows:
        raise ItemNotFound(f"no item {request.item_id!r}")
    if len(rows) > 1:
        raise ItemAmbiguous([row["operator"] for row in rows])
    item = rows[0]
    operator, latest = item["operator"], item["revision"]
    revision = request.revision or latest
    record_id = (
        item["record_id"]
        if revision == latest
        else await conn.fetchval(Q.revision_record, operator, request.item_id, revision)
    )
    if record_id is None:
        raise ItemNotFound(f"item {request.item_id!r} has no revision {revision}")
    key = (operator, request.item_id, revision, request.code.value, request.reference)
    row = await _insert(
        conn,
        uuid.uuid4(),
        operator,
        request.item_id,
        revision,
        record_id,
        request.code.value,
        request.reference,
        request.reason,
        decided_by,
        revision < latest,
    )
    if row is None:
        return Recorded(decision_to_dict(await conn.fetchrow(Q.same_decision, *key)), False)
    if await conn.fetchval(Q.operator_callback, operator):
        priority = (
            PRIORITY_DO_NOT_LOAD
            if request.code is DecisionCode.DO_NOT_LOAD
            else PRIORITY_DECISION
        )
        await conn.execute(
            Q.enqueue_decision,
            callback_queue(operator),
            operator,
            request.item_id,
            row["decision_id"],
            revision,
            priority,
        )
    await conn.execute(Q.notify_outcomes, operator)
    return Recorded(decision_to_dict(row), True)


async def _insert(conn: asyncpg.Connection, *args: object) -> asyncpg.Record | None:
    """Insert a decision; its record may have been purged since the item was read."""
    try:
        return await conn.fetchrow(Q.insert_decision, *args)
    except asyncpg.ForeignKeyViolationError:
        raise ItemNotFound("the item's records were purged") from None


async def outcomes(
    pool: asyncpg.Pool,
    signal: FeedSignal,
    operator: str,
    after: Cursor | None,
    limit: int,
    wait_s: float = 0.0,
) -> Page:
    """The operator's decisions after ``after``, in commit-safe order, long-polled."""
    if after is not None:
        await check_kept(pool, "outcomes", after)
    position = after or START

    async def fetch() -> Page:
        rows = await pool.fetch(Q.outcomes_page, operator, str(position.xid), position.seq, limit)
        if not rows:
            return Page([], position)
        last = rows[-1]
        return Page([decision_to_dict(r) for r in rows], Cursor(last["position_xid"], last["seq"]))

    return await long_poll(signal, wait_s, fetch)


async def item_decisions(pool: asyncpg.Pool, operator: str, item_id: str) -> list[dict[str, Any]]:
    return [decision_to_dict(r) for r in await pool.fetch(Q.item_decisions, operator, item_id)]
