"""PostgreSQL access: the pool, named queries and migrations. One code path (asyncpg)
whether the server is the embedded one or ``AEDGW_DATABASE_URL``."""

from __future__ import annotations

import asyncpg
import orjson

from gateway.store.named import Q

__all__ = ["Q", "StorageUnavailable", "create_pool"]

# What asyncpg raises when the server cannot be reached or goes away mid-request.
StorageUnavailable = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


async def _init(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def create_pool(url: str, *, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections decode jsonb to Python values with orjson."""
    return await asyncpg.create_pool(
        url, min_size=1, max_size=max_size, init=_init, command_timeout=60
    )
