"""Serving the app until SIGTERM or SIGINT, then stopping gracefully within one deadline.

aiohttp's ``run_app`` closes every connection the moment it stops, and a connection
closed that way ignores the rest of a body still being uploaded: a large message sent
as SIGTERM arrives would wait out the timeout and never be answered. So here the
listening socket closes first, requests in flight are waited for while their uploads
are still read, and only then does aiohttp close what is left. Long polls answer at
once; delivery workers get what is left of ``shutdown_timeout_s`` for their POSTs and
hand back the batches that cannot finish (``EndpointWorker.stop``). Every process that
serves the app (one, or each of ``--workers``) stops this way, on uvloop's event loop
when it is installed (:func:`run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from aiohttp import web

from gateway import heap
from gateway.http.limits import listen
from gateway.http.state import FEED, OUTCOMES, SETTINGS
from gateway.logging import get_logger

log = get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEEPALIVE_TIMEOUT_S = 75.0
"""An idle connection (or one that never sends a request) is closed after this, so that
idle connections do not hold the cap on connections."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (its transports and protocol callbacks are C,
    a cheaper loop for every request); None: asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """Which event loop :func:`run` uses, for the start-up log line."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` on the loop of :func:`loop_factory`: how every serving process runs."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main)


class Serving:
    """One serving process's requests in flight and, once its stop has begun, the
    deadline for them and for everything else it still has in hand."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.deadline: float | None = None
        """``time.monotonic()`` by which the stop ends what is in flight; None: serving."""
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        self.in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def drained(self, timeout_s: float) -> bool:
        """Wait until no request is in flight (True), or ``timeout_s`` (False)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self._idle.is_set()


SERVING = web.AppKey("serving", Serving)


@web.middleware
async def in_flight_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request; once the server is stopping, close its connection after the
    answer, so that a kept-alive client goes elsewhere for the next one."""
    serving = request.app[SERVING]
    with serving.request():
        response = await handler(request)
    if serving.deadline is not None:
        response.force_close()
    return response


async def stopping(app: web.Application) -> None:
    """The stop begins (idempotent; also aiohttp's on_shutdown hook): set the deadline,
    and answer the long polls now."""
    serving = app[SERVING]
    if serving.deadline is not None:
        return
    serving.deadline = time.monotonic() + app[SETTINGS].shutdown_timeout_s
    app[FEED].close()
    app[OUTCOMES].close()
    log.info("stopping", shutdown_timeout_s=app[SETTINGS].shutdown_timeout_s)


def time_left(app: web.Application) -> float:
    """Seconds until the stop deadline (the whole timeout if no stop has begun)."""
    deadline = app[SERVING].deadline
    if deadline is None:
        return app[SETTINGS].shutdown_timeout_s
    return max(0.0, deadline - time.monotonic())


async def serve(
    app: web.Application,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Serve on ``host:port`` (or an already bound ``sock``, as a worker process of
    several would), over TLS with ``ssl_context``, until SIGTERM or SIGINT, then stop
    gracefully. Connections over ``limits.max_connections`` are refused (``limits.listen``)."""
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=0, keepalive_timeout=KEEPALIVE_TIMEOUT_S
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        listener = await listen(runner, host=host, port=port, sock=sock, ssl_context=ssl_context)
        heap.settle()  # start-up's objects out of the collector's walks
        name = listener.sockets[0].getsockname()
        log.info("listening", url=f"{'https' if ssl_context else 'http'}://{name[0]}:{name[1]}")
        await stop.wait()
        listener.close()  # no new connections from here on
        await stopping(app)
        if not await app[SERVING].drained(time_left(app)):
            log.warning("stop_deadline_passed", requests_cut_off=app[SERVING].in_flight)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()  # closes idle connections, then the app's resources
