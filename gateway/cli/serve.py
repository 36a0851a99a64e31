"""``aedgw serve`` and ``aedgw migrate``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import socket
from pathlib import Path

import asyncpg

from gateway import config, limits
from gateway.cli import database
from gateway.embedded import database_url, remember
from gateway.http import site
from gateway.http.app import create_app
from gateway.logging import configure, get_logger
from gateway.store.migrate import migrate

log = get_logger(__name__)


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the gateway (embedded PostgreSQL by default)")
    serve.add_argument("--listen", help="host:port (default 127.0.0.1:8080)")
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
    settings.tls.cert = args.tls_cert or settings.tls.cert
    settings.tls.key = args.tls_key or settings.tls.key
    settings.tls.client_ca = args.client_ca or settings.tls.client_ca
    configure(settings.log_format, settings.log_level)
    context = site.ssl_context(settings.tls)
    limits.check(settings.limits, settings.workers)
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
        )
        # site.run finishes in-flight requests on SIGINT/SIGTERM before returning; the
        # embedded server is stopped when the with-block exits.
        site.run(create_app(settings, url), settings, context, sock)
        log.info("stopped")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    configure(settings.log_format, settings.log_level)
    with database.server_url(settings) as url:
        applied = asyncio.run(_migrate(url))
    print("\n".join(applied) if applied else "database is up to date")
    return 0
