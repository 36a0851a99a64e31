"""API keys: ``aedgw_<id>_<secret>`` with a 256-bit secret, stored as SHA-256.

A slow password hash would cost tens of milliseconds per request and buys nothing for
a random 256-bit secret. Verified keys are cached per process; a revocation NOTIFYs
every process (channel ``aedgw_keys``) so that it takes effect at once.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from hashlib import sha256

import asyncpg

from gateway.store import Q

PREFIX = "aedgw"
NOTIFY_CHANNEL = "aedgw_keys"
CACHE_SECONDS = 300.0


class Scope(StrEnum):
    OPERATOR = "operator"
    TARGETING = "targeting"
    ADMIN = "admin"
    MONITORING = "monitoring"
    """Reads /metrics when ``metrics_auth`` is on; nothing else."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request speaks for: an operator code, a targeting system or an admin."""

    scope: Scope
    subject: str
    key_id: str


class KeyNotFound(LookupError):
    pass


def _digest(secret: str) -> bytes:
    return sha256(secret.encode()).digest()


# What ``issue`` makes: a hex id and a URL-safe secret. Anything else is no key, and never
# reaches the database (a header's undecodable bytes arrive as lone surrogates).
_KEY = re.compile(rf"{PREFIX}_([0-9a-f]{{1,64}})_([A-Za-z0-9_-]{{32,256}})")


def split(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    match = _KEY.fullmatch(token)
    return (match[1], match[2]) if match else None


async def issue(conn: asyncpg.Connection, scope: Scope, subject: str) -> tuple[str, str]:
    """Create a key; returns ``(key_id, key)``. The key is never stored or shown again."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    await conn.execute(Q.insert_key, key_id, _digest(secret), scope.value, subject)
    return key_id, f"{PREFIX}_{key_id}_{secret}"


async def rotate(
    conn: asyncpg.Connection, key_id: str, overlap: timedelta
) -> tuple[str, str, datetime]:
    """A new key for the same holder; the old one keeps working for ``overlap``."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.key_subject, key_id)
        if row is None or row["revoked_at"] is not None:
            raise KeyNotFound(key_id)
        new_id, key = await issue(conn, Scope(row["scope"]), row["subject"])
        expired = await conn.fetchrow(Q.expire_key, key_id, overlap)
        await conn.execute(Q.notify_keys, key_id)
    return new_id, key, expired["expires_at"]


async def revoke(conn: asyncpg.Connection, key_id: str) -> None:
    async with conn.transaction():
        if await conn.fetchval(Q.revoke_key, key_id) is None:
            raise KeyNotFound(key_id)
        await conn.execute(Q.notify_keys, key_id)


@dataclass(slots=True)
class _Cached:
    digest: bytes
    principal: Principal
    expires_at: datetime | None
    fetched: float


class KeyCache:
    """Verifies bearer keys, remembering good ones until revoked or stale."""

    def __init__(self) -> None:
        self._entries: dict[str, _Cached] = {}

    def invalidate(self, key_id: str | None = None) -> None:
        if key_id:
            self._entries.pop(key_id, None)
        else:
            self._entries.clear()

    async def verify(self, pool: asyncpg.Pool, token: str) -> Principal | None:
        parts = split(token)
        if parts is None:
            return None
        key_id, secret = parts
        entry = self._entries.get(key_id)
        if entry is None or time.monotonic() - entry.fetched > CACHE_SECONDS:
            row = await pool.fetchrow(Q.get_key, key_id)
            if row is None:
                self._entries.pop(key_id, None)
                return None
            entry = _Cached(
                bytes(row["secret_sha256"]),
                Principal(Scope(row["scope"]), row["subject"], key_id),
                row["expires_at"],
                time.monotonic(),
            )
            self._entries[key_id] = entry
        if entry.expires_at is not None and entry.expires_at <= datetime.now(UTC):
            self._entries.pop(key_id, None)
            return None
        if not hmac.compare_digest(entry.digest, _digest(secret)):
            return None
        return entry.principal
