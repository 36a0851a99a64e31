"""``aedgw serve`` and ``aedgw migrate``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import ssl
from pathlib import Path

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from gateway import config, limits
from gateway.cli import database, workers
from gateway.embedded import database_url, remember
from gateway.http import server
from gateway.http.app import create_app
from gateway.http.mtls import server_ssl_context
from gateway.logging import configure, get_logger
from gateway.store import StorageUnavailable
from gateway.store.migrate import migrate

log = get_logger(__name__)

DATABASE_WAIT_S = 30.0
"""How long serve and migrate wait for the database to accept connections at start."""


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the gateway (embedded PostgreSQL by default)")
    serve.add_argument("--listen", help="host:port (default 127.0.0.1:8080)")
    serve.add_argument(
        "--workers", help="processes serving the port: a number, or auto (the CPU count)"
    )
    serve.add_argument(workers.SOCKET_ARG, type=int, help=argparse.SUPPRESS)
    serve.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    serve.add_argument(
        "--client-ca",
        type=Path,
        help="verify operators' client certificates (mutual TLS) against this CA (PEM)",
    )
    serve.set_defaults(run=run_serve)
    mig = commands.add_parser("migrate", help="apply database migrations and exit")
    mig.set_defaults(run=run_migrate)


async def _migrate(url: str) -> list[str]:
    """Apply the migrations, waiting a while for a database that is not up yet (one
    started beside the gateway, or restarting) rather than failing at once."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(DATABASE_WAIT_S),
        wait=wait_fixed(1),
        retry=retry_if_exception_type(StorageUnavailable),
        before_sleep=lambda state: log.warning(
            "waiting_for_database", error=type(state.outcome.exception()).__name__
        ),
        reraise=True,
    ):
        with attempt:
            conn = await asyncpg.connect(url)
    try:
        return [f"{m.version:04d}_{m.name}" for m in await migrate(conn)]
    finally:
        await conn.close()


def listening_socket(settings: config.Settings) -> socket.socket:
    """Bind the listening socket before anything starts, so that a port in use is one
    clear line (and no database was started for nothing)."""
    try:
        infos = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise config.ConfigError(f"listen = {settings.listen!r}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise config.ConfigError(
            f"cannot listen on {settings.listen}: {reason}; choose another with --listen HOST:PORT"
        ) from None
    return sock


def run_serve(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    if args.listen:
        settings.listen = args.listen
        config.check_listen(settings.listen, "--listen")
    settings.workers = workers.worker_count(args.workers, settings.workers)
    settings.tls.cert = args.tls_cert or settings.tls.cert
    settings.tls.key = args.tls_key or settings.tls.key
    settings.tls.client_ca = args.client_ca or settings.tls.client_ca
    configure(settings.log_format, settings.log_level)
    context = server_ssl_context(settings.tls)
    limits.check(settings.limits, settings.workers)
    if args.worker_socket is not None:
        return _serve_worker(settings, args.worker_socket, context)
    sock = listening_socket(settings)
    with sock, database_url(settings) as url:
        applied = asyncio.run(_migrate(url))
        if not settings.database_url:
            try:
                log.info("database_recorded", state_file=str(remember(settings.embedded_dir)))
            except OSError as exc:  # admin commands then need the directory or settings
                log.warning("database_not_recorded", error=str(exc))
        log.info(
            "starting",
            listen=settings.listen,
            tls=context is not None,
            client_ca=settings.tls.client_ca is not None,
            database="external" if settings.database_url else str(settings.embedded_dir),
            migrations_applied=applied,
            targets=[t.name for t in settings.targets],
            workers=settings.workers,
            loop=server.loop_name(),
        )
        if settings.workers > 1:
            workers.Supervisor(settings, url, args.config).run(sock)
        else:
            # Until SIGINT/SIGTERM, then a graceful stop within shutdown_timeout_s (see
            # gateway/http/server.py); the embedded server stops when the with-block exits.
            server.run(server.serve(create_app(settings, url), sock=sock, ssl_context=context))
        log.info("stopped")
    return 0


def _serve_worker(settings: config.Settings, fd: int, context: ssl.SSLContext | None) -> int:
    """One of ``serve --workers``: the parent migrated; accept on its socket and stop
    gracefully as a single serve does."""
    assert settings.database_url, "the parent passes its database"
    app = create_app(settings, settings.database_url)
    app.cleanup_ctx.append(workers.watch_parent)
    log.info("worker_serving", pid=os.getpid(), loop=server.loop_name())
    server.run(server.serve(app, sock=socket.socket(fileno=fd), ssl_context=context))
    log.info("worker_stopped", pid=os.getpid())
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    configure(settings.log_format, settings.log_level)
    with database.server_url(settings) as url:
        applied = asyncio.run(_migrate(url))
    print("\n".join(applied) if applied else "database is up to date")
    return 0
