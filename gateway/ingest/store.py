"""Store: translated messages become archived bytes, record revisions, outbox rows and
receipts. Concurrent messages share one transaction (group commit, gateway/ingest/group.py)
written with set-based statements over arrays: a small group of first sightings in one
call, any other group in two statements (migration 0012 has their SQL). A
large message is stored in a transaction of its own, a chunk of items at a time
(``store_stream``, fed by gateway/ingest/stream.py), through the same steps.

Idempotency lives here too: claims on (operator, dedupe key) make a resend of the same
bytes answer the first receipt, and make two racing identical submissions store once. A
message claims its reference, and its Idempotency-Key too when it has one: other bytes
under either are refused (``idempotency_key_reused``, ``message_ref_reused``), unless
the earlier message accepted nothing.
"""

from __future__ import annotations

import os
import uuid
from collections import ChainMap
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from gateway.canonical import (
    CanonicalItem,
    Function,
    RecordBodies,
    item_to_dict,
    message_fields,
)
from gateway.codes import MessageCode
from gateway.config import Target
from gateway.contract import ItemError
from gateway.ingest.adapt import Translation
from gateway.ingest.group import GroupSettings, GroupWriter
from gateway.ingest.locks import EVERY_BUCKET, NO_LOCKS, Locks, lock_plan
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
from gateway.store import Q, StorageBusy, StorageUnavailable, in_transaction

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
    """The HTTP status and body to send; ``replay`` marks a resend answered from the past.
    ``encoded`` is ``body`` as the bytes stored for it: a replay sends exactly those, so
    a resend gets the first answer byte for byte."""

    status: int
    body: dict[str, Any]
    replay: bool = False
    encoded: bytes | None = None

    def json(self) -> bytes:
        """The body to send: the stored bytes when there are any."""
        return self.encoded if self.encoded is not None else orjson.dumps(self.body)


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
        orjson.dumps(body),
    )


async def get_receipt(
    pool: asyncpg.Pool, message_id: uuid.UUID, operator: str
) -> dict[str, Any] | None:
    """The answer given for a message, for the operator that sent it and nobody else."""
    row = await pool.fetchrow(Q.get_message, message_id, operator)
    return orjson.loads(row["receipt"]) if row else None


def configure(pool: asyncpg.Pool, settings: GroupSettings) -> None:
    """Group-commit settings for the messages stored through ``pool`` (config
    ``[ingest]``); without a call, the defaults of GroupSettings."""
    _writer(pool).settings = settings


def writer_of(pool: asyncpg.Pool) -> GroupWriter[_Message, Answer]:
    """The group writer storing messages through ``pool`` (tests read its counters)."""
    return _writer(pool)


async def store(
    pool: asyncpg.Pool,
    arrival: Arrival,
    translation: Translation,
    profile: Profile,
    targets: Sequence[Target],
    *,
    dry_run: bool = False,
) -> Answer:
    """Store one message, in a transaction shared with the messages arriving meanwhile,
    and answer once it committed. A dry run reads the items and writes nothing."""
    message = _Message(arrival, translation, profile, tuple(targets))
    if dry_run:
        return await _dry_run(pool, message, _whole(translation))
    return await _writer(pool).submit(message, max(1, len(translation.items)))


Chunks = Callable[[], AsyncIterator[Translation]]
"""A large message's items, a chunk at a time; each call reads them from the start
again (a transaction that lost a deadlock runs again from its beginning)."""


async def store_stream(
    pool: asyncpg.Pool,
    arrival: Arrival,
    head: Translation,
    chunks: Chunks,
    profile: Profile,
    targets: Sequence[Target],
    *,
    dry_run: bool = False,
) -> Answer:
    """Store one large message in a transaction of its own, a chunk of items at a time,
    and answer once it committed, as :func:`store` would have answered it whole. ``head``
    is the message without items (adapter, reference). What the chunks raise (a refusal
    of the whole message found late) rolls everything back and propagates."""
    message = _Message(arrival, head, profile, tuple(targets))
    if dry_run:
        return await _dry_run(pool, message, chunks())
    return await in_transaction(pool, lambda conn: _stream(conn, message, chunks()))


@dataclass(frozen=True, slots=True)
class _Message:
    """A message on its way to the store."""

    arrival: Arrival
    translation: Translation
    profile: Profile
    targets: tuple[Target, ...]

    @property
    def claims(self) -> tuple[tuple[str, str], ...]:
        """(operator, dedupe key) pairs a resend is recognised by: the Idempotency-Key
        when one is sent, and the reference always (other bytes under a used reference
        are refused whatever the key); the key first, as its refusal is reported first."""
        op, key = self.arrival.operator, self.arrival.idempotency_key
        ref = (op, f"ref:{self.translation.message_ref}")
        return ((op, f"key:{key}"), ref) if key else (ref,)

    def item_keys(self) -> set[tuple[str, str]]:
        return {(self.arrival.operator, item.item_id) for _, item in self.translation.items}


_writers: dict[int, tuple[asyncpg.Pool, GroupWriter[_Message, Answer]]] = {}


def _writer(pool: asyncpg.Pool) -> GroupWriter[_Message, Answer]:
    found = _writers.get(id(pool))
    if found is not None and found[0] is pool:
        return found[1]
    for key in [key for key, (other, _) in _writers.items() if other.is_closing()]:
        del _writers[key]
    writer: GroupWriter[_Message, Answer] = GroupWriter(
        lambda messages: _store_group(pool, messages), GroupSettings(), _alone
    )
    _writers[id(pool)] = (pool, writer)
    return writer


def _alone(exc: BaseException) -> bool:
    """A failed group's messages are stored one by one, unless the database is gone."""
    return not isinstance(exc, StorageUnavailable)


async def _store_group(
    pool: asyncpg.Pool, messages: Sequence[_Message]
) -> list[Answer | BaseException]:
    """Store ``messages`` in one transaction (run again on a lost deadlock; StorageBusy
    after a few tries: 503). A message whose claim another of the group holds is stored
    after that one commits, so that it is answered from it (identical resends in one
    group: one stored, the other answered 200 with the first receipt); what that second
    transaction raises is its message's alone."""
    first: list[int] = []
    later: list[int] = []
    claims: set[tuple[str, str]] = set()
    for index, message in enumerate(messages):
        (later if claims.intersection(message.claims) else first).append(index)
        claims.update(message.claims)
    group = [messages[i] for i in first]
    small = sum(len(m.translation.items) for m in group) <= AT_ONCE_MAX_ITEMS
    stored = await _at_once(pool, group) if small else None
    if stored is None:
        stored = await in_transaction(pool, lambda conn: _transaction(conn, group))
    answers: dict[int, Answer | BaseException] = dict(zip(first, stored, strict=True))
    for index in later:
        try:
            (answers[index],) = await _store_group(pool, [messages[index]])
        except Exception as exc:
            answers[index] = exc
    return [answers[index] for index in range(len(messages))]


async def _at_once(pool: asyncpg.Pool, messages: Sequence[_Message]) -> list[Answer] | None:
    """The usual group, new messages of items not seen before, stored by one call in a
    transaction of its own (one round trip instead of four: on a small machine the
    wake-ups are most of what a single-item message costs). Its writes are made
    assuming so; None when that was wrong (the call wrote nothing) or the call lost a
    deadlock: the group is then stored the long way."""
    reserved = sorted(set().union(*(m.item_keys() for m in messages)))
    writes = _Writes()
    states: States = {}
    answers = [_apply(message, states, writes) for message in messages]
    try:
        await pool.execute(
            Q.store_group,
            *_begin_args(messages, reserved, lock_plan(set(reserved))),
            *writes.args(reserved),
        )
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == _SEEN_BEFORE or isinstance(exc, StorageBusy):
            return None
        raise
    return answers


AT_ONCE_MAX_ITEMS = 100
"""Groups of up to this many items try the one call first. Above it the three round
trips saved are little beside the group's own work, and a group that amends would make
its writes twice (the refused try, then the long way)."""

_SEEN_BEFORE = "AE001"
"""ingest_store_group's refusal: a claim was taken or an item seen before."""


async def _transaction(conn: asyncpg.Connection, messages: Sequence[_Message]) -> list[Answer]:
    """One group's transaction in two statements (three when a claim was lost): item
    locks, claims and item states in one, everything the group writes in the other."""
    reserved = sorted(set().union(*(m.item_keys() for m in messages)))
    earlier, states = await _begin(conn, messages, reserved, lock_plan(set(reserved)))
    writes = _Writes()
    answers = [
        _settle_earlier(message, earlier[index], writes)
        if index in earlier
        else _apply(message, states, writes)
        for index, message in enumerate(messages)
    ]
    await writes.write(conn, reserved)
    return answers


def _settle_earlier(message: _Message, earlier: asyncpg.Record, writes: _Writes) -> Answer:
    """A message that lost a claim to an earlier one: that one's answer, or a 409
    archived; the claims it did take, if any, are released."""
    answer, archive = _answer_earlier(message.arrival, message.translation, earlier)
    if archive:
        writes.refuse(message, answer)
    writes.release(message)
    return answer


async def _begin(
    conn: asyncpg.Connection,
    messages: Sequence[_Message],
    reserved: list[tuple[str, str]],
    locks: Locks,
) -> tuple[dict[int, asyncpg.Record], States]:
    """Take the advisory locks ``locks``, claim each message's (operator, dedupe key)
    pairs, and lock and read the items' rows (placeholders for first sightings, so that
    those lock too).
    Returns, by message index, the first earlier claim (with its receipt) of each message
    that did not get all of its own, and the items' current states."""
    rows = await conn.fetch(Q.begin_group, *_begin_args(messages, reserved, locks))
    taken = {(r["operator"], r["key"]) for r in rows if r["kind"] == "claim"}
    states = _states([r for r in rows if r["kind"] == "item"], id_column="key")
    lost = {
        index: next(c for c in m.claims if c not in taken)
        for index, m in enumerate(messages)
        if not taken.issuperset(m.claims)
    }
    if not lost:
        return {}, states
    found = await _claims(conn, list(lost.values()))
    return {index: found[claim] for index, claim in lost.items()}, states


def _begin_args(
    messages: Sequence[_Message], reserved: list[tuple[str, str]], locks: Locks
) -> list[list[Any]]:
    """begin_group's arguments: the locks, each message's claims, the reserved items."""
    # sorted so that groups claim in one order; within a group the claims are distinct
    wanted = sorted(
        (claim, m.arrival.message_id, m.arrival.raw_sha256)
        for m in messages
        for claim in m.claims
    )
    return [
        *locks,
        [op for (op, _), _, _ in wanted],
        [key for (_, key), _, _ in wanted],
        [message_id for _, message_id, _ in wanted],
        [sha for _, _, sha in wanted],
        [op for op, _ in reserved],
        [item_id for _, item_id in reserved],
    ]


async def _claims(
    conn: asyncpg.Connection | asyncpg.Pool, claims: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], asyncpg.Record]:
    """The claims held on these (operator, dedupe key) pairs, with their receipts."""
    rows = await conn.fetch(
        Q.get_claims, [op for op, _ in claims], [key for _, key in claims]
    )
    return {(r["operator"], r["dedupe_key"]): r for r in rows}


def _answer_earlier(
    arrival: Arrival, translation: Translation, earlier: asyncpg.Record
) -> tuple[Answer, bool]:
    """Same bytes: the first receipt again. Other bytes: 409, and the refusal is archived;
    ``idempotency_key_reused`` when the key was used before, else ``message_ref_reused``."""
    receipt = orjson.loads(earlier["receipt"])
    if earlier["raw_sha256"] == arrival.raw_sha256:
        return Answer(200, receipt, replay=True, encoded=earlier["receipt"]), False
    if earlier["dedupe_key"].startswith("key:"):
        code, what = MessageCode.IDEMPOTENCY_KEY_REUSED, "this Idempotency-Key"
    else:
        code, what = MessageCode.MESSAGE_REF_REUSED, "this reference"
    body = error_body(
        code,
        f"{what} was already used for a message with other content",
        {"first_message_id": receipt.get("message_id")},
        message_id=arrival.message_id,
        message_ref=translation.message_ref,
    )
    return Answer(409, body), True


States = dict[tuple[str, str], ItemState]


def _states(rows: Sequence[asyncpg.Record], id_column: str = "item_id") -> States:
    return {
        (r["operator"], r[id_column]): ItemState(
            r["revision"], Function(r["function"]), r["data_sha256"]
        )
        for r in rows
        if r["revision"] > 0
    }


@dataclass(slots=True)
class _Stored:
    item: CanonicalItem
    wire: dict[str, Any]
    outcome: NewRevision
    sha: str
    record_id: str


_VARIANT = {f"{n:x}": "89ab"[n & 3] for n in range(16)}


def _record_ids(count: int) -> Iterator[str]:
    """Random (version 4) UUIDs as text (asyncpg takes text for uuid), from one read of
    the OS's random source: a ``uuid4()`` a record cost a system call, a UUID object and
    its formatting for the record body."""
    digits = os.urandom(16 * count).hex()
    for at in range(0, 32 * count, 32):
        d = digits[at : at + 32]
        yield f"{d[:8]}-{d[8:12]}-4{d[13:16]}-{_VARIANT[d[16]]}{d[17:20]}-{d[20:]}"


def _receipt(message: _Message, *, dry_run: bool) -> Receipt:
    """The message's receipt before any item is counted into it."""
    arrival, translation = message.arrival, message.translation
    return Receipt(
        message_id=arrival.message_id,
        operator=arrival.operator,
        message_ref=translation.message_ref,
        received_at=arrival.received_at,
        source_format=translation.source_format,
        dry_run=dry_run,
    )


def _outcomes(
    message: _Message,
    translation: Translation,
    states: Mapping[tuple[str, str], ItemState],
    receipt: Receipt,
) -> tuple[list[_Stored], States]:
    """Apply the amendment rules to the items of ``translation`` (the whole message, or
    its next chunk) in message order, counting them and their errors into ``receipt``;
    the item states they lead to come back apart, for the caller to keep or drop."""
    operator = message.arrival.operator
    errors: list[ItemError] = list(translation.errors)
    stored: list[_Stored] = []
    after: States = {}
    record_ids = _record_ids(len(translation.items))
    for index, item in translation.items:
        key = (operator, item.item_id)
        wire = item_to_dict(item)
        sha = data_sha256(wire)
        current = after[key] if key in after else states.get(key)
        outcome = resolve(current, item.function, item.revision, sha)
        if isinstance(outcome, NewRevision):
            after[key] = advance(outcome, sha)
            stored.append(_Stored(item, wire, outcome, sha, next(record_ids)))
            receipt.accepted += 1
        elif isinstance(outcome, Unchanged):
            receipt.unchanged += 1
        elif isinstance(outcome, Refused):
            errors.append(
                ItemError(index, item.item_id, item.source_path, outcome.code, outcome.message)
            )
    receipt.received += translation.received
    # a chunk's indexes all come after the previous chunk's: sorting each sorts them all
    receipt.errors.extend(sorted(errors, key=lambda e: e.index))
    return stored, after


def _all_or_nothing(receipt: Receipt) -> Answer:
    body = error_body(
        MessageCode.ALL_OR_NOTHING,
        "the operator's profile rejects a message with any bad item",
        **receipt.to_dict() | {"status": Status.REJECTED.value},
    )
    return Answer(422, body)


def _refused_whole(message: _Message, receipt: Receipt) -> bool:
    return message.profile.all_or_nothing and bool(receipt.errors)


def _apply(message: _Message, states: States, writes: _Writes) -> Answer:
    """One message of a group: its answer, its writes added to the group's, and the item
    states it leads to kept for the next messages of the group."""
    receipt = _receipt(message, dry_run=False)
    stored, after = _outcomes(message, message.translation, states, receipt)
    if _refused_whole(message, receipt):
        return _refuse_whole(message, receipt, writes)
    states.update(after)
    answer = _accepted(receipt)
    writes.accept(message, receipt, answer)
    writes.add(message, stored)
    return answer


def _refuse_whole(message: _Message, receipt: Receipt, writes: _Writes) -> Answer:
    """All or nothing, and an item was bad: the message is archived refused (422) and
    keeps none of its claims, so that sent again it is judged again."""
    answer = _all_or_nothing(receipt)
    writes.refuse(message, answer)
    writes.release(message)
    return answer


def _accepted(receipt: Receipt) -> Answer:
    body = receipt.to_dict()
    return Answer(202, body, encoded=orjson.dumps(body))


async def _whole(translation: Translation) -> AsyncIterator[Translation]:
    """A message held whole, as the one chunk of it."""
    yield translation


async def _dry_run(
    pool: asyncpg.Pool, message: _Message, chunks: AsyncIterator[Translation]
) -> Answer:
    """What storing would answer, from the committed claims and item states; nothing is
    written. A claim counts as the real send would find it: one whose message accepted
    nothing would be taken over by other bytes. The items come a chunk at a time (one
    chunk for a message held whole); the states the earlier chunks lead to are kept, as
    the real send would have written them."""
    async with aclosing(chunks):
        held = await _claims(pool, message.claims)
        for claim in message.claims:
            earlier = held.get(claim)
            if earlier is not None and (
                earlier["accepted_any"] or earlier["raw_sha256"] == message.arrival.raw_sha256
            ):
                return _answer_earlier(message.arrival, message.translation, earlier)[0]
        receipt = _receipt(message, dry_run=True)
        after: States = {}
        async for chunk in chunks:
            ids = sorted({item.item_id for _, item in chunk.items})
            rows = await pool.fetch(Q.read_items, message.arrival.operator, ids)
            _, changed = _outcomes(message, chunk, ChainMap(after, _states(rows)), receipt)
            after.update(changed)
    if _refused_whole(message, receipt):
        return _all_or_nothing(receipt)
    return Answer(202, receipt.to_dict())


async def _stream(
    conn: asyncpg.Connection, message: _Message, chunks: AsyncIterator[Translation]
) -> Answer:
    """One large message in a transaction of its own, written a chunk at a time.

    Item locks: a stream cannot know its items before it has read them all, yet they
    must be locked before the transaction gets its xid (gateway/ingest/locks.py). So it
    takes every coarse bucket exclusive up front, in the statement that takes its claims (its
    first write, hence before its xid): no other message writing any item runs from
    then until the stream commits (a group waits for its buckets; one that held some
    first is waited for), and whatever amends an item of the stream commits with a later
    xid. Each chunk then reserves, locks and reads its items' rows and writes its
    records, items and outbox rows after the xid exists, taking no more advisory locks
    (50,000 fine locks would overflow the lock table). Purge, the one other writer of
    ``items``, deletes only rows no record refers to and skips locked ones; decisions
    only read items (FOR SHARE), so neither takes the buckets.

    The message's archive row goes first (the records refer to it) and gets its receipt
    at the end. All or nothing with a bad item: every chunk is still written, so that the
    receipt counts each item as the whole message would have, then rolled back to the
    savepoint before the archive row, and the refusal archived as a group archives it."""
    writes = _Writes()
    async with aclosing(chunks):
        earlier, _ = await _begin(conn, [message], [], EVERY_BUCKET)
        if earlier:
            answer = _settle_earlier(message, earlier[0], writes)
            await writes.write(conn, [])
            return answer
        receipt = _receipt(message, dry_run=False)
        chunked = conn.transaction()
        await chunked.start()
        await conn.execute(Q.insert_message, *_archive_row(message, Status.ACCEPTED, 202, b""))
        async for chunk in chunks:
            reserved = sorted({(message.arrival.operator, i.item_id) for _, i in chunk.items})
            _, states = await _begin(conn, [], reserved, NO_LOCKS)
            stored, _ = _outcomes(message, chunk, states, receipt)
            part = _Writes()
            part.add(message, stored)
            await part.write(conn, reserved)
    if _refused_whole(message, receipt):
        await chunked.rollback()
        answer = _refuse_whole(message, receipt, writes)
    else:
        await chunked.commit()  # releases the savepoint; the transaction goes on
        answer = _accepted(receipt)
        await conn.execute(
            Q.set_receipt, uuid.UUID(message.arrival.message_id), receipt.status.value, 202,
            answer.json(),
        )
        writes.settle(message, receipt)
    await writes.write(conn, [])
    return answer


def _archive_row(
    message: _Message, status: Status, http_status: int, receipt: bytes
) -> tuple[Any, ...]:
    """The message's archive row, the columns in ``messages``' order."""
    arrival, translation = message.arrival, message.translation
    return (
        uuid.UUID(arrival.message_id),
        arrival.operator,
        translation.message_ref,
        arrival.idempotency_key,
        translation.source_format,
        arrival.content_type,
        arrival.raw,
        arrival.raw_sha256,
        arrival.received_at,
        status.value,
        http_status,
        receipt,
    )


@dataclass(slots=True)
class _Writes:
    """Everything one group writes, gathered so that each table takes one statement."""

    messages: list[tuple[Any, ...]] = field(default_factory=list)
    records: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(9)])
    """Column by column (record id, operator, message id, item id, revision, function,
    destination, data sha256, body): no tuple an item for the garbage collector."""
    latest: dict[tuple[str, str], _Stored] = field(default_factory=dict)
    outbox: dict[tuple[str, str, str], _Stored] = field(default_factory=dict)
    settled: list[tuple[str, str, bool]] = field(default_factory=list)
    released: list[tuple[str, str, uuid.UUID]] = field(default_factory=list)

    def _message(
        self, message: _Message, status: Status, http_status: int, receipt: bytes
    ) -> None:
        self.messages.append(_archive_row(message, status, http_status, receipt))

    def release(self, message: _Message) -> None:
        """Drop the claims a message refused whole took: sent again, it is judged again."""
        message_id = uuid.UUID(message.arrival.message_id)
        self.released.extend((op, key, message_id) for op, key in message.claims)

    def refuse(self, message: _Message, answer: Answer) -> None:
        """Archive a message refused whole (409, 422) with its bytes."""
        self._message(message, Status.REJECTED, answer.status, answer.json())

    def accept(self, message: _Message, receipt: Receipt, answer: Answer) -> None:
        """Archive an accepted message with its answer and settle its claims."""
        self._message(message, receipt.status, 202, answer.json())
        self.settle(message, receipt)

    def settle(self, message: _Message, receipt: Receipt) -> None:
        """Mark the message's claims with whether it accepted anything (a claim whose
        message accepted nothing may be taken over by other bytes)."""
        accepted_any = receipt.accepted + receipt.unchanged > 0
        self.settled.extend((op, key, accepted_any) for op, key in message.claims)

    def add(self, message: _Message, stored: list[_Stored]) -> None:
        """The records of a message's new revisions, its items' latest states and its
        outbox rows."""
        arrival, translation = message.arrival, message.translation
        op, message_id = arrival.operator, arrival.message_id
        ids, ops, messages, items, revisions, functions, destinations, shas, bodies = (
            self.records
        )
        # the canonical JSON, serialised here once: the feed, pushed batches and the
        # item ledger use these bytes as they are
        shared = message_fields(
            op,
            translation.source_format,
            message_id,
            translation.message_ref,
            arrival.received_at,
            arrival.raw_sha256,
        )
        records = RecordBodies(shared)
        for s in stored:
            ids.append(s.record_id)
            ops.append(op)
            messages.append(message_id)
            items.append(s.item.item_id)
            revisions.append(s.outcome.revision)
            functions.append(s.outcome.function.value)
            destinations.append(s.item.destination_country)
            shas.append(s.sha)
            bodies.append(records.body(s.record_id, s.outcome.revision, s.outcome.function, s.wire))
            self.latest[(op, s.item.item_id)] = s  # the last revision of each item wins
            for t in message.targets:
                if t.receives(op, s.item.destination_country):
                    self.outbox[(t.name, op, s.item.item_id)] = s

    async def write(self, conn: asyncpg.Connection, reserved: list[tuple[str, str]]) -> None:
        """Everything in one statement (one round trip), a table per part of it."""
        await conn.execute(Q.write_group, *self.args(reserved))

    def args(self, reserved: list[tuple[str, str]]) -> list[list[Any]]:
        """write_group's arguments; ``reserved`` items that got no revision lose their
        placeholder."""
        latest = sorted(self.latest.items())
        placeholders = [key for key in reserved if key not in self.latest]
        # Sorted by (target, operator, item id), the order every writer of the outbox's
        # one-pending-row key (settle, reap, replay) takes too: no deadlock between them.
        routed = sorted(self.outbox.items())
        return [
            *_columns(self.messages, 12),
            *self.records,
            [op for (op, _), _ in latest],
            [item_id for (_, item_id), _ in latest],
            [s.outcome.revision for _, s in latest],
            [s.outcome.function.value for _, s in latest],
            [s.sha for _, s in latest],
            [s.record_id for _, s in latest],
            *_columns(placeholders, 2),
            [target for (target, _, _), _ in routed],
            [op for (_, op, _), _ in routed],
            [item_id for (_, _, item_id), _ in routed],
            [s.record_id for _, s in routed],
            [s.outcome.revision for _, s in routed],
            [PRIORITY_DEFAULT] * len(routed),
            *_columns(self.settled, 3),
            *_columns(self.released, 3),
            sorted(set(self.records[1])),
        ]


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as columns, for ``unnest``: one array a column."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width
