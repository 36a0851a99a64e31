"""Whether the database takes writes, and if not, why: unreachable, read-only, or full.

``/readyz`` asks :func:`probe`, so that a balancer stops sending messages to a gateway
that would answer them 503; a request that meets the same trouble is answered 503 with
the reason from :func:`refusal`. Nothing is written either way: the probe rolls back.
"""

from __future__ import annotations

from enum import StrEnum

import asyncpg

from gateway.store import Q, StorageBusy, StorageUnavailable, WritesRefused

PROBE_TIMEOUT_S = 2.0


class Database(StrEnum):
    """The database as a writer sees it."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    """No connection, or the server is stopping, starting or restarting."""
    BUSY = "busy"
    """Lost deadlocks or serialization conflicts again and again."""
    READ_ONLY = "read_only"
    """Transactions are read-only (a standby, or default_transaction_read_only)."""
    DISK_FULL = "disk_full"
    """No space left for the data (or another class 53 shortage: memory, files)."""


def refusal(exc: BaseException) -> Database | None:
    """Why the database refused work, for an error the gateway answers 503; None when the
    error is not the database's state (a bug, which must stay a 500)."""
    if isinstance(exc, asyncpg.TooManyConnectionsError | asyncpg.CannotConnectNowError):
        return Database.UNREACHABLE
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return Database.READ_ONLY
    if isinstance(exc, WritesRefused):
        return Database.DISK_FULL
    if isinstance(exc, StorageBusy):
        return Database.BUSY
    if isinstance(exc, (*StorageUnavailable, TimeoutError)):
        return Database.UNREACHABLE
    return None


async def probe(pool: asyncpg.Pool, timeout_s: float = PROBE_TIMEOUT_S) -> Database:
    """Write to the probe table in a transaction that is rolled back: a truncated table
    takes a new file, so the insert must claim disk space (a full tablespace fails it),
    and a read-only transaction refuses the truncate."""
    try:
        async with pool.acquire(timeout=timeout_s) as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await conn.execute(Q.probe_limits, timeout=timeout_s)
                await conn.execute(Q.probe_truncate, timeout=timeout_s)
                await conn.execute(Q.probe_insert, timeout=timeout_s)
            finally:
                await transaction.rollback()
    except (*StorageUnavailable, *StorageBusy, *WritesRefused, TimeoutError) as exc:
        return refusal(exc) or Database.UNREACHABLE
    except asyncpg.LockNotAvailableError:
        return Database.OK  # another process is probing right now: it writes, so can we
    return Database.OK
