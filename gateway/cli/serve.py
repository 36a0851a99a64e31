"""``aedgw serve`` and ``aedgw migrate``."""

from __future__ import annotations

import argparse
import asyncio

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from gateway import config
from gateway.embedded import database_url
from gateway.http import server
from gateway.http.app import create_app
from gateway.logging import configure, get_logger
from gateway.store import StorageUnavailable
from gateway.store.migrate import migrate

log = get_logger(__name__)

DATABASE_WAIT_S = 30.0
"""How long serve and migrate wait for the database to accept connections at start."""


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the gateway (embedded PostgreSQL by default)")
    serve.add_argument("--listen", help="host:port (default 127.0.0.1:8080)")
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


def run_serve(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    if args.listen:
        settings.listen = args.listen
    configure(settings.log_format, settings.log_level)
    with database_url(settings) as url:
        applied = asyncio.run(_migrate(url))
        log.info(
            "starting",
            listen=settings.listen,
            database="external" if settings.database_url else str(settings.embedded_dir),
            migrations_applied=applied,
            targets=[t.name for t in settings.targets],
        )
        # Until SIGINT/SIGTERM, then a graceful stop within shutdown_timeout_s (see
        # gateway/http/server.py); the embedded server stops when the with-block exits.
        asyncio.run(server.serve(create_app(settings, url), host=settings.host, port=settings.port))
        log.info("stopped")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    configure(settings.log_format, settings.log_level)
    with database_url(settings) as url:
        applied = asyncio.run(_migrate(url))
    print("\n".join(applied) if applied else "database is up to date")
    return 0
