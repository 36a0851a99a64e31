"""PostgreSQL access: the pool, named queries and migrations. One code path (asyncpg)
whether the server is the embedded one or ``AEDGW_DATABASE_URL``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random

from gateway.store.named import Q

__all__ = [
    "Q",
    "StorageBusy",
    "StorageUnavailable",
    "WriteConflict",
    "WritesRefused",
    "create_pool",
    "in_transaction",
]

T = TypeVar("T")

# What asyncpg raises when the server cannot be reached or goes away mid-request.
StorageUnavailable = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    # 57xxx: the server is shutting down, crashed, starting up, or cancelled the statement
    asyncpg.exceptions.OperatorInterventionError,
)

# The server answers but refuses to write: a read-only default (a standby after a
# failover, default_transaction_read_only) or no space left (class 53: disk full). The
# transaction wrote nothing, so resending later is safe: a 503, never a 500.
WritesRefused = (asyncpg.ReadOnlySQLTransactionError, asyncpg.InsufficientResourcesError)


class WriteConflict(Exception):
    """A statement lost a race for a unique key to a transaction that committed while it
    waited (e.g. a row going back to a queue that ingest just gave a newer pending row):
    nothing was written, and run again it sees the winner's row."""


# A transaction that lost to a concurrent one: nothing was written, and running it again
# from the start is safe. Still failing after a few tries, it is a 503, never a 500.
StorageBusy = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError, WriteConflict)

TRANSACTION_TRIES = 4


async def in_transaction(
    pool: asyncpg.Pool,
    work: Callable[[asyncpg.Connection], Awaitable[T]],
    *,
    tries: int = TRANSACTION_TRIES,
    **options: Any,
) -> T:
    """``work(conn)`` in one transaction, run again from the start (on a fresh
    transaction) when it loses a deadlock or a serialization conflict; after ``tries``
    the StorageBusy error propagates. ``options`` go to ``conn.transaction``."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(tries),
        wait=wait_random(0.005, 0.05),
        retry=retry_if_exception_type(StorageBusy),
        reraise=True,
    ):
        with attempt:
            async with pool.acquire() as conn, conn.transaction(**options):
                return await work(conn)
    raise AssertionError("unreachable")


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
        url, min_size=1, max_size=max_size, init=_init, reset=_keep_session,
        command_timeout=60,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool beyond what asyncpg always
    does (roll back an open transaction, drop listeners): nothing. The gateway keeps no
    session state on pooled connections (its settings and advisory locks are
    transaction-scoped; LISTEN has its own connection), so asyncpg's default reset query,
    a round trip on every release, would undo nothing."""
