"""API keys: ``aedgw_<id>_<secret>`` with a 256-bit secret, stored as SHA-256.

A slow password hash would cost tens of milliseconds per request and buys nothing for
a random 256-bit secret. Verified keys are cached per process; a revocation NOTIFYs
every process (channel ``aedgw_keys``) so that it takes effect at once. Issuing,
rotating and revoking are audited in the same transaction as the change.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from hashlib import sha256

import asyncpg

from gateway import audit
from gateway.audit import Actor
from gateway.logging import get_logger
from gateway.metrics import KEY_EXPIRY, KEYS_EXPIRING
from gateway.store import Q, StorageBusy, StorageUnavailable

log = get_logger(__name__)

PREFIX = "aedgw"
NOTIFY_CHANNEL = "aedgw_keys"
CACHE_SECONDS = 300.0
LAST_USE_EVERY_S = 60.0
"""A key's last use is written at most this often per process."""


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


async def issue(
    conn: asyncpg.Connection,
    scope: Scope,
    subject: str,
    actor: Actor,
    expires_in: timedelta | None = None,
) -> tuple[str, str]:
    """Create a key, valid for ``expires_in`` (None: until revoked); returns ``(key_id,
    key)``. The key is never stored or shown again."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    async with conn.transaction():
        expires_at = await conn.fetchval(
            Q.insert_key, key_id, _digest(secret), scope.value, subject, expires_in
        )
        details = {"scope": scope.value, "subject": subject, "expires_at": expires_at}
        await audit.record(conn, actor, "keys.issue", key_id, details)
    return key_id, f"{PREFIX}_{key_id}_{secret}"


async def rotate(
    conn: asyncpg.Connection, key_id: str, overlap: timedelta, actor: Actor
) -> tuple[str, str, datetime]:
    """A new key for the same holder, valid as long as the old one was meant to be; the
    old one keeps working for ``overlap``."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.key_subject, key_id)
        if row is None or row["revoked_at"] is not None:
            raise KeyNotFound(key_id)
        lifetime = row["lifetime"]
        new_id, key = await issue(conn, Scope(row["scope"]), row["subject"], actor, lifetime)
        expired = await conn.fetchrow(Q.expire_key, key_id, overlap)
        details = {"new_key_id": new_id, "old_key_expires_at": expired["expires_at"]}
        await audit.record(conn, actor, "keys.rotate", key_id, details)
        await conn.execute(Q.notify_keys, key_id)
    return new_id, key, expired["expires_at"]


async def revoke(conn: asyncpg.Connection, key_id: str, actor: Actor) -> None:
    async with conn.transaction():
        if await conn.fetchval(Q.revoke_key, key_id) is None:
            raise KeyNotFound(key_id)
        await audit.record(conn, actor, "keys.revoke", key_id)
        await conn.execute(Q.notify_keys, key_id)


async def list_keys(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Every key with its holder, expiry, revocation and last use (never its hash)."""
    return await pool.fetch(Q.list_keys)


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
        self._use_written: dict[str, float] = {}

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
        await self._note_use(pool, key_id)
        return entry.principal

    async def _note_use(self, pool: asyncpg.Pool, key_id: str) -> None:
        """Write the key's last use, at most once per :data:`LAST_USE_EVERY_S`; a failed
        write is logged, never a failed request."""
        now = time.monotonic()
        if now - self._use_written.get(key_id, -LAST_USE_EVERY_S) < LAST_USE_EVERY_S:
            return
        self._use_written[key_id] = now
        try:
            await pool.execute(Q.touch_key, key_id)
        except (*StorageUnavailable, *StorageBusy) as exc:
            log.warning("key_last_use_not_written", key_id=key_id, error=type(exc).__name__)


async def warn_expiring(pool: asyncpg.Pool, within: timedelta) -> int:
    """Publish every live key's expiry as a metric and log a warning for each key that
    stops working within ``within``; returns how many do."""
    rows = await pool.fetch(Q.expiring_keys)
    KEY_EXPIRY.clear()
    soon = 0
    now = datetime.now(UTC)
    for row in rows:
        labels = (row["key_id"], row["scope"], row["subject"])
        KEY_EXPIRY.labels(*labels).set(row["expires_at"].timestamp())
        if row["expires_at"] - now <= within:
            soon += 1
            log.warning(
                "key_expiring",
                key_id=row["key_id"],
                scope=row["scope"],
                subject=row["subject"],
                expires_at=row["expires_at"].isoformat(),
                hours_left=round((row["expires_at"] - now).total_seconds() / 3600, 1),
            )
    KEYS_EXPIRING.set(soon)
    return soon


async def watch_expiry(pool: asyncpg.Pool, within: timedelta, every_s: float = 3600.0) -> None:
    """Run :func:`warn_expiring` now and then every ``every_s`` until cancelled."""
    while True:
        try:
            await warn_expiring(pool, within)
        except (*StorageUnavailable, *StorageBusy) as exc:
            log.warning("key_expiry_not_checked", error=type(exc).__name__)
        await asyncio.sleep(every_s)
