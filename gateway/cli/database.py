"""Running a CLI command against the gateway's database (embedded or external)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from gateway import config
from gateway.embedded import database_url
from gateway.store import create_pool
from gateway.store.migrate import migrate

T = TypeVar("T")


async def migrated_pool(url: str, max_size: int = 4) -> asyncpg.Pool:
    """A pool on a database brought up to the current schema first."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return await create_pool(url, max_size=max_size)


def run(args: argparse.Namespace, action: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Start or join the database, migrate, and run ``action`` with a pool."""
    settings = config.load(args.config)

    async def go(url: str) -> T:
        pool = await migrated_pool(url)
        try:
            return await action(pool)
        finally:
            await pool.close()

    with database_url(settings) as url:
        return asyncio.run(go(url))
