"""The aiohttp application factory: routes, middlewares, and resources in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client.aiohttp import make_aiohttp_handler

from adapters.registry import default_registry
from gateway import keys, limits, operators, rollups
from gateway import retention as lifecycle
from gateway.codes import MessageCode
from gateway.config import Settings
from gateway.decisions import OUTCOMES_CHANNEL
from gateway.delivery.callbacks import Callbacks
from gateway.delivery.worker import Delivery
from gateway.feed import RECORDS_CHANNEL, FeedSignal
from gateway.http import (
    admin,
    audit,
    console,
    consumers,
    decisions,
    messages,
    records,
    scorecard,
    server,
)
from gateway.http.auth import authenticate
from gateway.http.limits import limits_middleware
from gateway.http.params import query, strict_parameters
from gateway.http.responses import ApiError, json_response
from gateway.http.server import SERVING, Serving, time_left
from gateway.http.state import (
    BODY_MEMORY,
    DATABASE_URL,
    FEED,
    KEYS,
    LIMITER,
    LISTENER,
    OUTCOMES,
    POOL,
    PRINCIPAL,
    PROFILES,
    REGISTRY,
    REPLAY_BUDGET,
    SETTINGS,
)
from gateway.ingest import store
from gateway.ingest.group import GroupSettings
from gateway.keys import NOTIFY_CHANNEL, KeyCache, Scope
from gateway.logging import get_logger
from gateway.metrics import HTTP_SECONDS, exposition_registry, sample_pool
from gateway.notify import Listener
from gateway.operators import ProfileCache
from gateway.store import create_pool
from gateway.store.health import Database, probe, refusal

log = get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# A client's own request id is kept when it is a plain token; anything else (it is a
# header value, and could be a key pasted in the wrong place) is replaced, not logged.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _NoClientBytes(logging.Filter):
    """aiohttp's parser errors quote the raw line they stopped at: a bearer key read from
    a CRLF file would be logged whole. Keep the status and the kind of error only, as a
    warning (the client's mistake, not the gateway's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "bad_http_request status=%s error=%s"
            record.args = (error.code, type(error).__name__)
            record.exc_info = None
            record.exc_text = None
        return True


SERVER_LOG = logging.getLogger("gateway.http.server")
"""What aiohttp's server logs about connections and malformed requests."""
SERVER_LOG.addFilter(_NoClientBytes())


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id to every log line of the request and echo it to the client."""
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-Id"] = request_id
        raise
    finally:
        route = request.match_info.route.resource
        HTTP_SECONDS.labels(
            request.method, route.canonical if route else "unmatched", str(status)
        ).observe(time.perf_counter() - started)
        principal = request.get(PRINCIPAL)
        # The access line: at debug for what went well (a message's own line says what it
        # was), at info for a refusal or failure, so info costs no line per request.
        (log.info if status >= 400 else log.debug)(
            "request",
            method=request.method,
            path=request.path,
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 1),
            operator=principal.subject if principal else None,
        )


_ROUTING_CODES = {
    404: MessageCode.NOT_FOUND,
    405: MessageCode.METHOD_NOT_ALLOWED,
    413: MessageCode.TOO_LARGE,
}
"""Codes of aiohttp's own refusals (no route, no such method, body over client_max_size)."""


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure in the one error shape; storage trouble is a 503, never a 500."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _ROUTING_CODES.get(exc.status, MessageCode.BAD_REQUEST)
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        raise ApiError(exc.status, code, exc.reason, headers=allow) from None
    except Exception as exc:
        database = refusal(exc)
        if database is not None:
            log.warning("storage_unavailable", error=type(exc).__name__, database=database)
            raise ApiError(
                503,
                MessageCode.STORAGE_UNAVAILABLE,
                f"storage is unavailable ({database.value}); resend later",
                {"database": database.value},
                headers={"Retry-After": "5"},
            ) from None
        log.exception("internal_error")
        raise ApiError(
            500, MessageCode.INTERNAL, "internal error; the request id is logged"
        ) from None


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[POOL] = await create_pool(app[DATABASE_URL], max_size=settings.pool_max_size)
    ingest = settings.ingest
    store.configure(
        app[POOL],
        GroupSettings(
            ingest.group_window_ms / 1000, ingest.group_max_items, ingest.group_concurrency
        ),
    )
    listener = Listener(app[DATABASE_URL])
    listener.subscribe(
        NOTIFY_CHANNEL,
        lambda key_id: app[KEYS].invalidate(None if key_id in (None, "*") else key_id),
    )
    listener.subscribe(operators.NOTIFY_CHANNEL, app[PROFILES].invalidate)
    listener.subscribe(RECORDS_CHANNEL, app[FEED].wake)
    listener.subscribe(OUTCOMES_CHANNEL, app[OUTCOMES].wake)
    await listener.start()
    app[LISTENER] = listener
    yield
    await listener.stop()
    await app[POOL].close()


async def _delivery(app: web.Application) -> AsyncIterator[None]:
    """Push workers for the targets this process pushes to; stopped before the pool closes."""
    delivery = Delivery.for_targets(app[POOL], app[SETTINGS].targets)
    await delivery.start()
    yield
    await delivery.stop(time_left(app))


async def _key_expiry(app: web.Application) -> AsyncIterator[None]:
    """Warn (log and metric) about keys that stop working soon, every hour."""
    within = timedelta(days=app[SETTINGS].key_expiry_warning_days)
    task = asyncio.create_task(keys.watch_expiry(app[POOL], within), name="key-expiry")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _callbacks(app: web.Application) -> AsyncIterator[None]:
    """Push workers for operators' callback URLs, following their profiles."""
    callbacks = Callbacks(app[POOL], refresh_s=app[SETTINGS].callbacks_refresh_s)
    await callbacks.start()
    yield
    await callbacks.stop(time_left(app))


async def _purge(app: web.Application) -> AsyncIterator[None]:
    """The scheduled purge (``retention.every_s``; 0 leaves it to ``aedgw purge``). A
    batch cut off by the stop rolls back whole; the next run picks it up."""
    retention = app[SETTINGS].retention
    stopping = asyncio.Event()
    task = (
        asyncio.create_task(lifecycle.every(app[POOL], retention, stopping), name="purge")
        if retention.every_s > 0
        else None
    )
    yield
    stopping.set()
    if task is not None:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, time_left(app))


async def _pool_metrics(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(sample_pool(app[POOL]), name="pool-metrics")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _rollups(app: web.Application) -> AsyncIterator[None]:
    """The scorecard's daily rollups, refreshed in the background (gateway/rollups.py)."""
    async with rollups.running(app[POOL], app[SETTINGS].scorecard.rollup_interval_s):
        yield


_PROMETHEUS = make_aiohttp_handler(exposition_registry())


@query("name[]")
async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus exposition (``name[]`` picks metrics); with ``metrics_auth`` it needs an
    admin or monitoring key, since the labels name operators and targets."""
    if request.app[SETTINGS].metrics_auth:
        await authenticate(request, Scope.ADMIN, Scope.MONITORING)
    return await _PROMETHEUS(request)


async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database takes writes; else 503 naming why (``database``)."""
    database = await probe(request.app[POOL])
    if database is not Database.OK:
        return json_response({"status": "unavailable", "database": database.value}, 503)
    return json_response({"status": "ready", "database": database.value})


def create_app(settings: Settings, database_url: str) -> web.Application:
    """The gateway as an aiohttp application on an already migrated database."""
    limits.check(settings.limits, settings.workers)
    app = web.Application(
        middlewares=[
            context_middleware,
            server.in_flight_middleware,
            error_middleware,
            limits_middleware,
            strict_parameters,
        ],
        client_max_size=settings.limits.max_body_bytes,
        # We inflate gzip ourselves, stopping at the size limit: a gzip bomb never expands.
        handler_args={"auto_decompress": False, "logger": SERVER_LOG},
    )
    app[SETTINGS] = settings
    app[DATABASE_URL] = database_url
    app[KEYS] = KeyCache()
    app[PROFILES] = ProfileCache()
    app[LIMITER] = limits.OperatorLimiter(settings.limits, settings.workers)
    app[BODY_MEMORY] = limits.BodyMemory(settings.limits.body_memory_bytes // settings.workers)
    app[REGISTRY] = default_registry()
    app[FEED] = FeedSignal()
    app[OUTCOMES] = FeedSignal()
    app[REPLAY_BUDGET] = admin.replay_budget()
    app[SERVING] = Serving()
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_delivery)
    app.cleanup_ctx.append(_callbacks)
    app.cleanup_ctx.append(_rollups)
    app.cleanup_ctx.append(_pool_metrics)
    app.cleanup_ctx.append(_purge)
    app.cleanup_ctx.append(_key_expiry)
    app.on_shutdown.append(server.stopping)
    app.add_routes(messages.routes)
    app.add_routes(records.routes)
    app.add_routes(decisions.routes)
    app.add_routes(admin.routes)
    app.add_routes(audit.routes)
    app.add_routes(scorecard.routes)
    app.add_routes(console.routes)
    app.add_routes(consumers.routes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
