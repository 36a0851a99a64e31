"""``POST /v1/messages`` and ``GET /v1/messages/{id}``: receive, archive, adapt, store."""

from __future__ import annotations

import time
import uuid

import orjson
from aiohttp import web

from gateway.codes import MessageCode
from gateway.document import DocumentRefused, inflater
from gateway.http.auth import authenticate
from gateway.http.limits import hold_inflated, read_body
from gateway.http.params import bad_parameter, query, query_value, text
from gateway.http.responses import ApiError, json_response
from gateway.http.soap import SOAP11, fault_response, soap_version
from gateway.http.state import POOL, PROFILES, REGISTRY, SETTINGS
from gateway.ingest import store
from gateway.ingest.receive import Receiver, Submission
from gateway.ingest.store import Answer
from gateway.keys import Scope
from gateway.logging import get_logger
from gateway.metrics import INGEST_SECONDS, count_receipt

log = get_logger(__name__)
routes = web.RouteTableDef()

_HEADERS_FOR_ADAPTERS = ("X-Message-Ref",)
_SNIFF_BYTES = 4096
CLIENT_CLOSED_REQUEST = 499
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


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


def _soap(request: web.Request, body: bytes) -> str | None:
    version = soap_version(request.headers.get("Content-Type", ""), _head(request, body))
    return version or (SOAP11 if "SOAPAction" in request.headers else None)


def _head(request: web.Request, body: bytes) -> bytes:
    """The start of the body as the document reads, for sniffing a SOAP envelope."""
    try:
        encoding = request.headers.get("Content-Encoding")
        reader = inflater(body, encoding, max(len(body), _SNIFF_BYTES))
        return body if reader is None else reader.read(_SNIFF_BYTES)
    except DocumentRefused:
        return b""


async def _receive(request: web.Request) -> tuple[bytes, Answer]:
    """Authenticate, read the body within the limits, and hand it to the receive path."""
    principal = await authenticate(request, Scope.OPERATOR)
    dry_run = _dry_run(request)
    settings = request.app[SETTINGS]
    pool = request.app[POOL]
    profile = await request.app[PROFILES].get(pool, principal.subject)  # dropped on change
    if profile is None or profile.disabled_at is not None:
        raise ApiError(403, MessageCode.FORBIDDEN, "this operator is not enabled")
    try:
        body = await read_body(request, settings.limits.max_body_bytes)
    except DocumentRefused as refused:  # over the size limit
        raise ApiError(refused.status, refused.code, refused.message) from None
    except ConnectionResetError:  # aiohttp's word for a client gone mid-body
        raise _client_gone(request, profile.code) from None
    submission = Submission(
        body=body,
        content_type=request.headers.get("Content-Type", ""),
        content_encoding=request.headers.get("Content-Encoding"),
        headers={h: _header(request, h) for h in _HEADERS_FOR_ADAPTERS if h in request.headers},
        idempotency_key=_header(request, "Idempotency-Key") or None,
        dry_run=dry_run,
    )
    started = time.perf_counter()
    receiver = Receiver(pool, request.app[REGISTRY], settings)
    answer = await receiver.receive(profile, submission, lambda size: hold_inflated(request, size))
    if not dry_run:  # a sandbox run is nobody's traffic
        INGEST_SECONDS.labels(profile.code).observe(time.perf_counter() - started)
        count_receipt(profile.code, str(answer.body.get("status", answer.status)), answer.body)
    # A line per refused message; an accepted one is at debug: its receipt is stored, and
    # a line at info costs a single-item message about 20 us.
    (log.info if answer.status >= 400 else log.debug)(
        "message_answered",
        http_status=answer.status,
        replay=answer.replay,
        dry_run=dry_run,
        status=answer.body.get("status"),
        items=answer.body.get("items"),
        error=(answer.body.get("error") or {}).get("code"),
    )
    return submission.body, answer


def _client_gone(request: web.Request, operator: str) -> ApiError:
    """The client hung up before its body arrived: nobody to answer, nothing stored, and
    not the database's fault. Logged as such; 499 (nginx's "client closed request") is
    what the access log and metrics record, never sent."""
    log.info("client_disconnected", operator=operator, content_length=request.content_length)
    return ApiError(
        CLIENT_CLOSED_REQUEST, MessageCode.BAD_REQUEST, "the client hung up before its body arrived"
    )


def _dry_run(request: web.Request) -> bool:
    """``?dry_run=`` takes true/false/1/0 only: a misspelt value must not store for real."""
    given = query_value(request, "dry_run")
    if given is None:
        return False
    value = _BOOLEANS.get(given.lower())
    if value is None:
        raise bad_parameter("dry_run", "true, false, 1 or 0")
    return value


def _header(request: web.Request, name: str) -> str:
    """A header the core reads: no control character, NUL or bytes that are not UTF-8
    (aiohttp hands those over as lone surrogates), else 400 naming it."""
    return text(name, request.headers[name], where="header") if name in request.headers else ""


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
