"""The limits of ``gateway.limits`` over HTTP: a middleware for each operator's requests
per second and in flight (429), the body reader that holds body memory (503) and
enforces the upload deadline (408), and the listener that caps open connections (503).

aiohttp's sites offer no place to refuse a connection over a cap, so :func:`listen`
serves the runner's protocol factory (``AppRunner.server``, public) wrapped by
:class:`ConnectionCap`."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from gateway.codes import MessageCode
from gateway.document import too_large
from gateway.http.auth import identify
from gateway.http.responses import ApiError
from gateway.http.state import BODY_MEMORY, LIMITER, POOL, PRINCIPAL, PROFILES, SETTINGS
from gateway.keys import Scope
from gateway.limits import OVERLOADED_RETRY_S, BodyHold, Limit, Refused, UploadPace
from gateway.metrics import REQUESTS_LIMITED

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY_HOLD = web.RequestKey("body_hold", BodyHold)

_ANSWERS = {
    Limit.RATE: (429, MessageCode.RATE_LIMITED),
    Limit.CONCURRENCY: (429, MessageCode.RATE_LIMITED),
    Limit.BODY_MEMORY: (503, MessageCode.OVERLOADED),
    Limit.BODY_TIMEOUT: (408, MessageCode.REQUEST_TIMEOUT),
}


def refusal(refused: Refused, operator: str | None) -> ApiError:
    """The HTTP answer to a limit; the connection closes after it when a body may be
    left unread, so that nothing more of it is waited for."""
    REQUESTS_LIMITED.labels(operator or "", refused.limit).inc()
    status, code = _ANSWERS[refused.limit]
    error = ApiError(
        status,
        code,
        refused.message,
        {"limit": refused.limit.value},
        headers={"Retry-After": str(refused.retry_after_s)},
    )
    if refused.limit in (Limit.BODY_MEMORY, Limit.BODY_TIMEOUT):
        error.force_close()
    return error


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request its share of body memory, and admit an operator's request only
    within its rate and concurrency."""
    app = request.app
    hold = app[BODY_MEMORY].hold()
    request[BODY_HOLD] = hold
    try:
        principal = await identify(request)
        if principal is None or principal.scope is not Scope.OPERATOR:
            return await handler(request)
        profile = await app[PROFILES].get(app[POOL], principal.subject)
        limiter = app[LIMITER]
        share = limiter.share(
            profile.rate_per_s if profile else None, profile.concurrency if profile else None
        )
        try:
            limiter.admit(principal.subject, share)
        except Refused as refused:
            raise refusal(refused, principal.subject) from None
        try:
            return await handler(request)
        finally:
            limiter.release(principal.subject)
    finally:
        hold.release()


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (else 413), held in the process's body
    memory (else 503) and arriving in time (else 408)."""
    limits = request.app[SETTINGS].limits
    hold = request[BODY_HOLD]
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(limit)
    try:
        if declared:
            hold.resize(declared)
        pace = UploadPace(time.monotonic(), limits.body_timeout_s, limits.min_upload_bytes_per_s)
        chunks, size = [], 0
        content = request.content
        while True:
            wait_s = pace.deadline(size) - time.monotonic()
            try:
                if wait_s <= 0:
                    raise TimeoutError
                # what has arrived is taken as it is: wait_for costs a task and a timer,
                # and a small body is usually whole by the time its handler runs
                chunk = content.read_nowait()
                if not chunk and not content.is_eof():
                    chunk = await asyncio.wait_for(content.readany(), wait_s)
            except TimeoutError:
                raise pace.refusal(size, time.monotonic()) from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            if size > hold.size:
                hold.resize(size)
            chunks.append(chunk)
    except Refused as refused:
        raise refusal(refused, _operator(request)) from None


def hold_inflated(request: web.Request, size: int) -> None:
    """The body now takes ``size`` bytes (decompressed), or 503 when that is too much."""
    try:
        request[BODY_HOLD].resize(size)
    except Refused as refused:
        raise refusal(refused, _operator(request)) from None


def _operator(request: web.Request) -> str | None:
    principal = request.get(PRINCIPAL)
    return principal.subject if principal else None


_REFUSAL_WAIT_S = 5.0
"""How long a refused connection may stay silent before it is closed unanswered."""


class _Refusal(asyncio.Protocol):
    """A connection over the cap: answered 503 ``overloaded`` once its request starts
    arriving (or closed after a few seconds of silence), never handed to the app."""

    _ANSWER = orjson.dumps(
        {
            "error": {
                "code": MessageCode.OVERLOADED.value,
                "message": "too many open connections; resend later",
                "details": {"limit": Limit.CONNECTIONS.value},
            }
        }
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(_REFUSAL_WAIT_S, transport.close)

    def data_received(self, _data: bytes) -> None:
        if self._transport.is_closing():
            return
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            f"Retry-After: {OVERLOADED_RETRY_S}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(self._ANSWER)}\r\n"
            "Connection: close\r\n\r\n"
        )
        self._transport.write(head.encode() + self._ANSWER)
        self._transport.close()

    def connection_lost(self, _exc: Exception | None) -> None:
        self._timer.cancel()


class ConnectionCap:
    """The protocol factory of the site: aiohttp's, while fewer than ``most``
    connections are open in this process; a :class:`_Refusal` beyond."""

    def __init__(self, server: web.Server, most: int) -> None:
        self._server = server
        self._most = most

    def __call__(self) -> asyncio.Protocol:
        if len(self._server.connections) >= self._most:
            REQUESTS_LIMITED.labels("", Limit.CONNECTIONS).inc()
            return _Refusal()
        return self._server()


async def listen(
    runner: web.AppRunner,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> asyncio.Server:
    """Accept connections for the runner's app on ``host:port`` (or ``sock``), at most
    ``limits.max_connections`` divided by the workers at once."""
    settings = runner.app[SETTINGS]
    assert runner.server is not None, "runner.setup() first"
    cap = ConnectionCap(runner.server, max(1, settings.limits.max_connections // settings.workers))
    loop = asyncio.get_running_loop()
    if sock is not None:
        return await loop.create_server(cap, sock=sock, ssl=ssl_context)
    return await loop.create_server(cap, host, port, ssl=ssl_context, reuse_address=True)
