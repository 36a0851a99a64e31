"""``POST /v1/messages`` and ``GET /v1/messages/{id}``: receive, archive, adapt, store."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from hashlib import sha256

import orjson
import structlog
from aiohttp import web

from gateway import operators
from gateway.codes import MessageCode
from gateway.contract import MessageRejected
from gateway.document import DocumentRefused, decompress, media_kind, parse
from gateway.http.auth import authenticate
from gateway.http.limits import hold_inflated, read_body
from gateway.http.params import query
from gateway.http.responses import ApiError, json_response
from gateway.http.soap import SOAP11, fault_response, soap_version
from gateway.http.state import POOL, REGISTRY, SETTINGS
from gateway.ingest import store
from gateway.ingest.adapt import Translation, translate
from gateway.ingest.store import Answer, Arrival, archive_refused, error_body
from gateway.keys import Scope
from gateway.logging import get_logger
from gateway.metrics import INGEST_SECONDS, count_receipt
from gateway.schemas import SchemaInvalid

log = get_logger(__name__)
routes = web.RouteTableDef()

# Below this size translating inline is cheaper than handing work to a thread.
_INLINE_BYTES = 64 * 1024
_HEADERS_FOR_ADAPTERS = ("X-Message-Ref",)


@routes.post("/v1/messages")
@query("dry_run")
async def submit(request: web.Request) -> web.Response:
    """Answer in JSON, except that a SOAP sender gets its errors as a SOAP Fault."""
    try:
        raw, answer = await _receive(request)
    except ApiError as error:
        version = _soap(request, b"")
        if version is None:
            raise
        return fault_response(version, error.status, orjson.loads(error.text))
    version = _soap(request, raw) if answer.status >= 400 else None
    if version is not None:
        return fault_response(version, answer.status, answer.body)
    return web.Response(body=answer.json(), status=answer.status, content_type="application/json")


def _soap(request: web.Request, raw: bytes) -> str | None:
    version = soap_version(request.headers.get("Content-Type", ""), raw)
    return version or (SOAP11 if "SOAPAction" in request.headers else None)


async def _receive(request: web.Request) -> tuple[bytes, Answer]:
    principal = await authenticate(request, Scope.OPERATOR)
    settings = request.app[SETTINGS]
    pool = request.app[POOL]
    profile = await operators.get(pool, principal.subject)
    if profile is None or profile.disabled_at is not None:
        raise ApiError(403, MessageCode.FORBIDDEN, "this operator is not enabled")
    content_type = request.headers.get("Content-Type", "")
    try:
        media_kind(content_type)
        raw = decompress(
            await read_body(request, settings.limits.max_body_bytes),
            request.headers.get("Content-Encoding"),
            settings.limits.max_body_bytes,
        )
    except DocumentRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from None
    hold_inflated(request, len(raw))
    started = time.perf_counter()
    arrival = Arrival(
        message_id=str(uuid.uuid4()),
        operator=profile.code,
        received_at=datetime.now(UTC),
        raw=raw,
        raw_sha256=sha256(raw).hexdigest(),
        content_type=content_type,
        idempotency_key=request.headers.get("Idempotency-Key") or None,
    )
    structlog.contextvars.bind_contextvars(message_id=arrival.message_id)
    headers = {h: request.headers[h] for h in _HEADERS_FOR_ADAPTERS if h in request.headers}
    adapters = request.app[REGISTRY].candidates(profile.formats)

    def work() -> Translation:
        doc = parse(raw, content_type, headers)
        return translate(
            doc,
            adapters,
            allow_bilateral=profile.allow_bilateral,
            max_items=settings.limits.max_items,
        )

    try:
        translation = work() if len(raw) < _INLINE_BYTES else await asyncio.to_thread(work)
    except DocumentRefused as refused:
        answer = Answer(
            refused.status,
            error_body(
                refused.code,
                refused.message,
                refused.details,
                message_id=arrival.message_id,
                status="rejected",
            ),
        )
        await archive_refused(pool, arrival, answer.status, answer.body)
    except (MessageRejected, SchemaInvalid) as rejected:
        answer = Answer(
            422,
            error_body(
                rejected.code,
                rejected.message,
                rejected.details,
                message_id=arrival.message_id,
                operator=profile.code,
                status="rejected",
            ),
        )
        await archive_refused(pool, arrival, answer.status, answer.body)
    else:
        answer = await store.store(
            pool,
            arrival,
            translation,
            profile,
            settings.targets,
            dry_run=request.query.get("dry_run", "").lower() in {"1", "true", "yes"},
        )
    INGEST_SECONDS.labels(profile.code).observe(time.perf_counter() - started)
    count_receipt(profile.code, str(answer.body.get("status", answer.status)), answer.body)
    log.info(
        "message_answered",
        http_status=answer.status,
        replay=answer.replay,
        status=answer.body.get("status"),
        items=answer.body.get("items"),
        error=(answer.body.get("error") or {}).get("code"),
    )
    return raw, answer


@routes.get("/v1/messages/{message_id}")
async def receipt(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.OPERATOR)
    try:
        message_id = uuid.UUID(request.match_info["message_id"])
    except ValueError:
        raise ApiError(404, MessageCode.NOT_FOUND, "no such message") from None
    body = await store.get_receipt(request.app[POOL], message_id, principal.subject)
    if body is None:
        raise ApiError(404, MessageCode.NOT_FOUND, "no such message")
    return json_response(body)
