"""The one entry of the receive path: a body as the client sent it becomes an answer.

:meth:`Receiver.receive` runs every stage (inflate, parse, adapt, rules, revisions,
store, receipt) and owns what cuts across them: the one table from a refusal to its
HTTP status (:func:`refusal`), archiving (a refused message is kept with its bytes, an
accepted one by the store in the same transaction as its records) and the dry run
(every step, nothing stored). ``POST /v1/messages`` and ``aedgw translate`` call it and
only translate between it and their world.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, Protocol

import asyncpg
import structlog

from gateway.codes import MessageCode
from gateway.config import Settings
from gateway.contract import Adapter, MessageRejected
from gateway.document import DocumentRefused, GzipReader, inflater, media_kind, parse
from gateway.ingest import store
from gateway.ingest.adapt import Reading, Translation, read, translation_to_dict
from gateway.ingest.guard import printable, printable_value
from gateway.ingest.receipt import Status
from gateway.ingest.store import Answer, Arrival, archive_refused, error_body
from gateway.ingest.stream import Stream, gather
from gateway.operators import Profile
from gateway.schemas import SchemaInvalid

REFUSED = (DocumentRefused, MessageRejected, SchemaInvalid)
"""What the stages raise when a message as a whole cannot be taken."""

INLINE_BYTES = 64 * 1024
"""Below this size (body, or inflated step) work is cheaper inline than on a thread."""
INFLATE_STEP = 4 * 1024 * 1024
"""Inflated bytes per step: memory is reserved, and the event loop runs, between steps."""

_NOT_ARCHIVED = frozenset({413, 415})
"""Refusals before the body is read as a document (DESIGN.md's outcome table)."""

Reserve = Callable[[int], None]
"""Takes the inflated body's size so far; raises when the process cannot hold it."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A whole-message refusal: the HTTP status, the code and what to tell the client."""

    status: int
    code: MessageCode
    message: str
    details: Any = None

    @property
    def archived(self) -> bool:
        return self.status not in _NOT_ARCHIVED

    @property
    def error(self) -> tuple[MessageCode, str, Any]:
        """What :func:`~gateway.ingest.store.error_body` takes."""
        return self.code, self.message, self.details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "details": self.details}


def refusal(exc: BaseException) -> Refusal:
    """The one table from a stage's refusal to its answer; text from the document is
    escaped so that the answer can be stored and sent."""
    if isinstance(exc, DocumentRefused):
        status = exc.status
    elif isinstance(exc, MessageRejected | SchemaInvalid):
        status = 422
    else:
        raise TypeError(f"not a refusal: {exc!r}")
    return Refusal(status, exc.code, printable(exc.message), printable_value(exc.details))


def start(
    raw: bytes,
    content_type: str,
    headers: Mapping[str, str],
    adapters: Sequence[Adapter],
    *,
    allow_bilateral: bool = False,
    max_items: int = 100_000,
) -> Reading:
    """Parse and read the envelope; the items are translated as the reading is read.
    Raises one of :data:`REFUSED` (so may reading the items)."""
    doc = parse(raw, content_type, headers)
    return read(doc, adapters, allow_bilateral=allow_bilateral, max_items=max_items)


def dry_run(
    raw: bytes,
    content_type: str,
    adapters: Sequence[Adapter],
    *,
    operator: str,
    headers: Mapping[str, str] | None = None,
    allow_bilateral: bool = False,
) -> dict[str, Any]:
    """Every stage before the database, read whole, answering in the fixtures'
    expected-output form: ``{"http_status", "translation"}`` or ``{"http_status", "error"}``."""
    try:
        translation = start(
            raw, content_type, headers or {}, adapters, allow_bilateral=allow_bilateral
        ).whole()
    except REFUSED as exc:
        refused = refusal(exc)
        return {"http_status": refused.status, "error": refused.to_dict()}
    return {"http_status": 202, "translation": translation_to_dict(operator, translation)}


class Formats(Protocol):
    """The adapter registry as the receive path uses it."""

    def candidates(self, formats: Iterable[str]) -> list[Adapter]: ...


@dataclass(frozen=True, slots=True)
class Submission:
    """One message as a client sent it: the body as received (gzip still on), and what
    the core needs of the request around it."""

    body: bytes
    content_type: str
    content_encoding: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """Request headers an adapter may read (``X-Message-Ref``)."""
    idempotency_key: str | None = None
    dry_run: bool = False


def _unlimited(_size: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Receiver:
    """The receive path with what it needs: the database, the adapters, the settings."""

    pool: asyncpg.Pool
    registry: Formats
    settings: Settings

    async def receive(
        self, profile: Profile, submission: Submission, reserve: Reserve = _unlimited
    ) -> Answer:
        """Receive one message for ``profile``'s operator. A refusal of the message as a
        whole is archived with the bytes as received (none on a dry run)."""
        received_at = datetime.now(UTC)
        message_id = str(uuid.uuid4())
        structlog.contextvars.bind_contextvars(message_id=message_id)
        limits = self.settings.limits

        async def arrival(raw: bytes) -> Arrival:
            return Arrival(
                message_id=message_id,
                operator=profile.code,
                received_at=received_at,
                raw=raw,
                raw_sha256=await _digest(raw),
                content_type=submission.content_type,
                idempotency_key=submission.idempotency_key,
            )

        try:
            media_kind(submission.content_type)
            raw = await inflate(
                submission.body, submission.content_encoding, limits.max_body_bytes, reserve
            )
        except DocumentRefused as exc:
            return await self._refuse(exc, await arrival(submission.body), submission.dry_run)
        taken = await arrival(raw)
        adapters = self.registry.candidates(profile.formats)
        ingest = self.settings.ingest

        def reading() -> Reading:
            return start(
                raw,
                submission.content_type,
                submission.headers,
                adapters,
                allow_bilateral=profile.allow_bilateral,
                max_items=limits.max_items,
            )

        def work() -> Translation | Stream:
            # a large message is stored as a stream (gateway/ingest/stream.py)
            return gather(reading(), ingest.stream_chunk_items, ingest.stream_items, reading)

        targets, dry = self.settings.targets, submission.dry_run
        try:
            got = work() if len(raw) < INLINE_BYTES else await asyncio.to_thread(work)
            if isinstance(got, Translation):
                return await store.store(self.pool, taken, got, profile, targets, dry_run=dry)
            return await store.store_stream(
                self.pool, taken, got.head, got.chunks, profile, targets, dry_run=dry
            )
        except REFUSED as exc:  # a stream's may come while it is being stored
            return await self._refuse(exc, taken, dry)

    async def _refuse(self, exc: BaseException, arrival: Arrival, dry_run: bool) -> Answer:
        refused = refusal(exc)
        if not refused.archived:
            return Answer(refused.status, error_body(*refused.error))
        body = error_body(
            *refused.error,
            message_id=arrival.message_id,
            operator=arrival.operator,
            status=Status.REJECTED.value,
        )
        if dry_run:
            body["dry_run"] = True
        else:
            await archive_refused(self.pool, arrival, refused.status, body)
        return Answer(refused.status, body)


async def _digest(raw: bytes) -> str:
    """The SHA-256 of the body, hashed on a thread when it is large."""
    if len(raw) < INLINE_BYTES:
        return sha256(raw).hexdigest()
    return await asyncio.to_thread(lambda: sha256(raw).hexdigest())


async def inflate(body: bytes, encoding: str | None, limit: int, reserve: Reserve) -> bytes:
    """The body without its Content-Encoding, at most ``limit`` bytes (else 413), its
    size reserved as it grows. A large gzip body is inflated on a thread, a step at a
    time; on a refusal what was inflated is dropped at once."""
    reader = inflater(body, encoding, limit)
    if reader is None:
        return body
    # Steps are appended (a few ms each on the loop) to a buffer that getvalue() hands
    # over without a copy: one join of the whole would hold the GIL for tens of ms.
    out = io.BytesIO()
    try:
        while True:
            part = await _step(reader, inline=len(body) < INLINE_BYTES and out.tell() == 0)
            if not part:
                return out.getvalue()
            reserve(out.tell() + len(part))
            out.write(part)
    except BaseException:
        out.close()
        raise


async def _step(reader: GzipReader, *, inline: bool) -> bytes:
    """The first step of a small body inline (at most :data:`INLINE_BYTES` out, so a
    small bomb costs little on the loop), every other on a thread."""
    if inline:
        return reader.read(INLINE_BYTES)
    return await asyncio.to_thread(reader.read, INFLATE_STEP)
