"""Store: a translated message becomes archived bytes, record revisions, outbox rows and
its receipt, in one transaction with batched statements (never one per item).

Idempotency lives here too: a claim on (operator, dedupe key) makes a resend of the same
bytes answer the first receipt, and makes two racing identical submissions store once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from gateway.canonical import (
    CanonicalItem,
    Envelope,
    Function,
    envelope_to_dict,
    item_to_dict,
)
from gateway.codes import MessageCode
from gateway.config import Target
from gateway.contract import ItemError
from gateway.ingest.adapt import Translation
from gateway.ingest.receipt import Receipt, Status
from gateway.ingest.revisions import (
    ItemState,
    NewRevision,
    Refused,
    Unchanged,
    advance,
    data_sha256,
    resolve,
)
from gateway.operators import Profile
from gateway.store import Q

PRIORITY_DEFAULT = 100


@dataclass(frozen=True, slots=True)
class Arrival:
    """A body as received; archived byte for byte whatever becomes of it."""

    message_id: str
    operator: str
    received_at: datetime
    raw: bytes
    raw_sha256: str
    content_type: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The HTTP status and body to send; ``replay`` marks a resend answered from the past."""

    status: int
    body: dict[str, Any]
    replay: bool = False


def error_body(
    code: MessageCode, message: str, details: Any = None, **extra: Any
) -> dict[str, Any]:
    """The one error shape of the API, with any receipt fields beside it."""
    return extra | {"error": {"code": code.value, "message": message, "details": details}}


async def archive_refused(
    pool: asyncpg.Pool | asyncpg.Connection,
    arrival: Arrival,
    status: int,
    body: dict[str, Any],
    *,
    message_ref: str | None = None,
    source_format: str | None = None,
) -> None:
    """Keep a whole-message refusal (400, 409, 422) with its bytes, for support and audit."""
    await pool.execute(
        Q.insert_message,
        uuid.UUID(arrival.message_id),
        arrival.operator,
        message_ref,
        arrival.idempotency_key,
        source_format,
        arrival.content_type,
        arrival.raw,
        arrival.raw_sha256,
        arrival.received_at,
        Status.REJECTED.value,
        status,
        body,
    )


async def get_receipt(
    pool: asyncpg.Pool, message_id: uuid.UUID, operator: str
) -> dict[str, Any] | None:
    """The answer given for a message, for the operator that sent it and nobody else."""
    row = await pool.fetchrow(Q.get_message, message_id, operator)
    return row["receipt"] if row else None


@dataclass(slots=True)
class _Stored:
    index: int
    item: CanonicalItem
    wire: dict[str, Any]
    outcome: NewRevision
    sha: str
    record_id: uuid.UUID


class _Undo(Exception):
    """Roll the transaction back, then answer with ``answer`` (after ``archive``, if any:
    never on a dry run, which stores nothing)."""

    def __init__(self, answer: Answer, archive: bool = False, *, dry_run: bool = False) -> None:
        self.answer = answer
        self.archive = archive and not dry_run


async def store(
    pool: asyncpg.Pool,
    arrival: Arrival,
    translation: Translation,
    profile: Profile,
    targets: Sequence[Target],
    *,
    dry_run: bool = False,
) -> Answer:
    dedupes = _dedupe_keys(arrival, translation)
    try:
        async with pool.acquire() as conn, conn.transaction():
            if not dry_run:
                ids = sorted({item.item_id for _, item in translation.items})
                await conn.execute(Q.lock_item_buckets, arrival.operator, ids)
            earlier = await _claim(conn, arrival, dedupes, dry_run=dry_run)
            if earlier is not None:
                raise _Undo(*_answer_earlier(arrival, translation, *earlier), dry_run=dry_run)
            receipt, stored = await _resolve(conn, arrival, translation, dry_run=dry_run)
            if profile.all_or_nothing and receipt.errors:
                body = error_body(
                    MessageCode.ALL_OR_NOTHING,
                    "the operator's profile rejects a message with any bad item",
                    **receipt.to_dict() | {"status": Status.REJECTED.value},
                )
                raise _Undo(Answer(422, body), archive=not dry_run)
            if dry_run:
                raise _Undo(Answer(202, receipt.to_dict()))
            await _write(conn, arrival, translation, receipt, stored, targets)
            accepted_any = receipt.accepted + receipt.unchanged > 0
            for dedupe in dedupes:
                await conn.execute(Q.settle_claim, arrival.operator, dedupe, accepted_any)
    except _Undo as undo:
        if undo.archive:
            await archive_refused(
                pool,
                arrival,
                undo.answer.status,
                undo.answer.body,
                message_ref=translation.message_ref,
                source_format=translation.source_format,
            )
        return undo.answer
    return Answer(202, receipt.to_dict())


def _dedupe_keys(arrival: Arrival, translation: Translation) -> list[str]:
    """What a resend is recognised by: the Idempotency-Key when one is sent, and the
    message reference always (other bytes under a used reference are refused whatever
    the key). The key first, so that racing messages claim in one order."""
    ref = f"ref:{translation.message_ref}"
    return [f"key:{arrival.idempotency_key}", ref] if arrival.idempotency_key else [ref]


async def _claim(
    conn: asyncpg.Connection, arrival: Arrival, dedupes: list[str], *, dry_run: bool
) -> tuple[str, asyncpg.Record] | None:
    """None when this message holds every claim (or, on a dry run, would take them);
    else the first claim it cannot take and the earlier message's receipt. A claim
    whose message accepted nothing may be taken over by other bytes."""
    for dedupe in dedupes:
        if dry_run:  # read only: what the claim would find
            earlier = await conn.fetchrow(Q.get_claim, arrival.operator, dedupe)
            if earlier is None or (
                not earlier["accepted_any"] and earlier["raw_sha256"] != arrival.raw_sha256
            ):
                continue
            return dedupe, earlier
        claimed = await conn.fetchval(
            Q.claim_message,
            arrival.operator,
            dedupe,
            uuid.UUID(arrival.message_id),
            arrival.raw_sha256,
        )
        if claimed is None:
            return dedupe, await conn.fetchrow(Q.get_claim, arrival.operator, dedupe)
    return None


def _answer_earlier(
    arrival: Arrival, translation: Translation, dedupe: str, earlier: asyncpg.Record
) -> tuple[Answer, bool]:
    """Same bytes: the first receipt again. Other bytes: 409, and the refusal is archived;
    ``idempotency_key_reused`` when the key was used before, else ``message_ref_reused``."""
    if earlier["raw_sha256"] == arrival.raw_sha256:
        return Answer(200, earlier["receipt"], replay=True), False
    if dedupe.startswith("key:"):
        code, what = MessageCode.IDEMPOTENCY_KEY_REUSED, "this Idempotency-Key"
    else:
        code, what = MessageCode.MESSAGE_REF_REUSED, "this reference"
    body = error_body(
        code,
        f"{what} was already used for a message with other content",
        {"first_message_id": earlier["receipt"].get("message_id")},
        message_id=arrival.message_id,
        message_ref=translation.message_ref,
    )
    return Answer(409, body), True


async def _resolve(
    conn: asyncpg.Connection, arrival: Arrival, translation: Translation, *, dry_run: bool
) -> tuple[Receipt, list[_Stored]]:
    """Lock the items' current states and apply the amendment rules in message order."""
    ids = sorted({item.item_id for _, item in translation.items})
    if dry_run:
        rows = await conn.fetch(Q.read_items, arrival.operator, ids)
    else:
        await conn.execute(Q.reserve_items, arrival.operator, ids)
        rows = await conn.fetch(Q.lock_items, arrival.operator, ids)
    states = {
        r["item_id"]: ItemState(r["revision"], Function(r["function"]), r["data_sha256"])
        for r in rows
        if r["revision"] > 0
    }
    receipt = Receipt(
        message_id=arrival.message_id,
        operator=arrival.operator,
        message_ref=translation.message_ref,
        received_at=arrival.received_at,
        source_format=translation.source_format,
        received=translation.received,
        dry_run=dry_run,
    )
    errors: list[ItemError] = list(translation.errors)
    stored: list[_Stored] = []
    for index, item in translation.items:
        wire = item_to_dict(item)
        sha = data_sha256(wire)
        outcome = resolve(states.get(item.item_id), item.function, item.revision, sha)
        if isinstance(outcome, NewRevision):
            states[item.item_id] = advance(outcome, sha)
            stored.append(_Stored(index, item, wire, outcome, sha, uuid.uuid4()))
            receipt.accepted += 1
        elif isinstance(outcome, Unchanged):
            receipt.unchanged += 1
        elif isinstance(outcome, Refused):
            errors.append(
                ItemError(index, item.item_id, item.source_path, outcome.code, outcome.message)
            )
    receipt.errors = sorted(errors, key=lambda e: e.index)
    return receipt, stored


async def _write(
    conn: asyncpg.Connection,
    arrival: Arrival,
    translation: Translation,
    receipt: Receipt,
    stored: list[_Stored],
    targets: Sequence[Target],
) -> None:
    op = arrival.operator
    message_id = uuid.UUID(arrival.message_id)
    await conn.execute(
        Q.insert_message,
        message_id,
        op,
        translation.message_ref,
        arrival.idempotency_key,
        translation.source_format,
        arrival.content_type,
        arrival.raw,
        arrival.raw_sha256,
        arrival.received_at,
        receipt.status.value,
        202,
        receipt.to_dict(),
    )
    bodies = [
        orjson.dumps(
            envelope_to_dict(
                Envelope(
                    record_id=str(s.record_id),
                    revision=s.outcome.revision,
                    function=s.outcome.function,
                    operator=op,
                    source_format=translation.source_format,
                    message_id=arrival.message_id,
                    message_ref=translation.message_ref,
                    received_at=arrival.received_at,
                    raw_sha256=arrival.raw_sha256,
                )
            )
            | s.wire
        ).decode()
        for s in stored
    ]
    await conn.execute(
        Q.insert_records,
        op,
        message_id,
        [s.record_id for s in stored],
        [s.item.item_id for s in stored],
        [s.outcome.revision for s in stored],
        [s.outcome.function.value for s in stored],
        [s.item.destination_country for s in stored],
        [s.sha for s in stored],
        bodies,
    )
    if stored:
        await conn.execute(Q.notify_records, op)
    latest = {s.item.item_id: s for s in stored}  # the last revision of each item wins
    await conn.execute(
        Q.update_items,
        op,
        list(latest),
        [s.outcome.revision for s in latest.values()],
        [s.outcome.function.value for s in latest.values()],
        [s.sha for s in latest.values()],
        [s.record_id for s in latest.values()],
    )
    await conn.execute(
        Q.drop_placeholders, op, sorted({i.item_id for _, i in translation.items} - set(latest))
    )
    routed = {
        (t.name, s.item.item_id): s
        for s in stored
        for t in targets
        if t.receives(op, s.item.destination_country)
    }
    if routed:
        await conn.execute(
            Q.insert_outbox,
            op,
            [target for target, _ in routed],
            [item_id for _, item_id in routed],
            [s.record_id for s in routed.values()],
            [s.outcome.revision for s in routed.values()],
            [PRIORITY_DEFAULT] * len(routed),
        )
