"""Which database an admin command uses, and running the command against it.

The server's, never a new one: ``database_url`` or a data directory from the settings
(file or environment), else the data directory ``aedgw serve`` recorded last, else
``./var`` when it holds a cluster. An embedded cluster that is not running is started
for the command (and stopped after it, unless the server shares it); one that does not
exist is never created: only ``aedgw serve`` creates one. Standard error names the
database used, so a person sees at once which gateway a command changed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from gateway import config
from gateway.embedded import embedded_server, holds_cluster, remembered, state_file
from gateway.store import StorageUnavailable, create_pool
from gateway.store.migrate import migrate

T = TypeVar("T")


class DatabaseProblem(Exception):
    """The command has no database to work on; the message says which and why."""


class NoDatabase(DatabaseProblem):
    """No database to use; the message says how to get one."""


class DatabaseUnreachable(DatabaseProblem):
    """The database was found but could not be reached (or started)."""


@dataclass(frozen=True, slots=True)
class Located:
    """The database a command uses: a URL, or an embedded cluster's data directory."""

    url: str | None
    pg_dir: Path | None
    why: str

    def describe(self) -> str:
        if self.url is not None:
            return f"database {_without_password(self.url)} ({self.why})"
        return f"embedded database in {self.pg_dir} ({self.why})"

    @contextlib.contextmanager
    def open(self) -> Iterator[str]:
        """A URL of the database for as long as it is needed."""
        if self.url is not None:
            yield self.url
            return
        assert self.pg_dir is not None
        with embedded_server(self.pg_dir) as url:
            yield url


def locate(settings: config.Settings) -> Located:
    """The server's database (see the module's docstring); NoDatabase when there is none."""
    if settings.database_url:
        return Located(settings.database_url, None, "database_url from the settings")
    if settings.given & {"data_dir", "pg_dir"}:
        pg_dir = settings.embedded_dir.expanduser().resolve()
        if not holds_cluster(pg_dir):
            raise NoDatabase(
                f"no database in {pg_dir} (the data directory the settings give); "
                "'aedgw serve' creates it"
            )
        return Located(None, pg_dir, "data directory from the settings")
    recorded = remembered()
    if recorded is not None and holds_cluster(recorded):
        return Located(None, recorded, f"recorded by aedgw serve in {state_file()}")
    here = settings.embedded_dir.expanduser().resolve()
    if holds_cluster(here):
        return Located(None, here, "found in the current directory")
    raise NoDatabase(
        "no gateway database found: start 'aedgw serve' once (it creates one and records "
        "where), run from its directory, or set AEDGW_DATABASE_URL"
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def migrated_pool(url: str, max_size: int = 4) -> asyncpg.Pool:
    """A pool on a database brought up to the current schema first."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return await create_pool(url, max_size=max_size)


@contextlib.contextmanager
def server_url(settings: config.Settings) -> Iterator[str]:
    """The URL of the server's database while it is needed, named on standard error."""
    located = locate(settings)
    print(f"aedgw: using the {located.describe()}", file=sys.stderr)
    try:
        with located.open() as url:
            yield url
    except (*StorageUnavailable, subprocess.SubprocessError) as exc:
        raise DatabaseUnreachable(f"the {located.describe()} is unreachable: {exc}") from exc


def run(args: argparse.Namespace, action: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Find the server's database (never create one), migrate it, run ``action``."""

    async def go(url: str) -> T:
        pool = await migrated_pool(url)
        try:
            return await action(pool)
        finally:
            await pool.close()

    with server_url(config.load(args.config)) as url:
        return asyncio.run(go(url))
