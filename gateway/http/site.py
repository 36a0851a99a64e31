"""Serving the application on its socket: HTTPS with optional client certificates
(mutual TLS), the cap on open connections, and a graceful stop on SIGINT or SIGTERM.

aiohttp's ``run_app`` offers no place to refuse a connection over a cap, so the site is
made here from aiohttp's public pieces: ``AppRunner.server`` is the protocol factory,
wrapped by :class:`ConnectionCap`.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from aiohttp import web

from gateway.codes import MessageCode
from gateway.config import ConfigError, Settings, Tls
from gateway.limits import OVERLOADED_RETRY_S, Limit
from gateway.metrics import REQUESTS_LIMITED

SHUTDOWN_TIMEOUT_S = 30.0
"""In-flight requests get this long to finish on a stop."""
KEEPALIVE_TIMEOUT_S = 75.0
"""An idle connection (or one that never sends a request) is closed after this."""
_REFUSAL_WAIT_S = 5.0


def ssl_context(tls: Tls) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain HTTP. With ``client_ca`` it asks every
    client for a certificate and verifies one against that CA; a client may still send
    none (targeting systems, admins, operators that need none): the operator's profile
    decides (``gateway.http.mtls``)."""
    if tls.cert is None and tls.key is None:
        if tls.client_ca is not None:
            raise ConfigError("tls.client_ca needs tls.cert and tls.key (HTTPS)")
        return None
    if tls.cert is None or tls.key is None:
        raise ConfigError("tls.cert and tls.key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
        if tls.client_ca is not None:
            context.load_verify_locations(cafile=tls.client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls: {exc}") from None
    return context


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


@asynccontextmanager
async def serving(
    app: web.Application,
    settings: Settings,
    context: ssl.SSLContext | None = None,
    sock: socket.socket | None = None,
) -> AsyncIterator[list[socket.socket]]:
    """Serve ``app`` on ``settings.listen`` (or on ``sock``), over TLS with ``context``,
    for the ``with`` block; yields the listening sockets. Leaving it stops accepting,
    lets in-flight requests finish and runs the app's cleanup."""
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        keepalive_timeout=KEEPALIVE_TIMEOUT_S,
    )
    await runner.setup()
    try:
        assert runner.server is not None
        factory = ConnectionCap(
            runner.server, max(1, settings.limits.max_connections // settings.workers)
        )
        loop = asyncio.get_running_loop()
        if sock is not None:
            server = await loop.create_server(factory, sock=sock, ssl=context)
        else:
            server = await loop.create_server(
                factory, settings.host, settings.port, ssl=context, reuse_address=True
            )
        try:
            yield list(server.sockets)
        finally:
            server.close()
    finally:
        await runner.cleanup()


def run(
    app: web.Application,
    settings: Settings,
    context: ssl.SSLContext | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop gracefully."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with serving(app, settings, context, sock):
            await stop.wait()

    asyncio.run(main())
