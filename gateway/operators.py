"""Operator profiles: who may send, in which formats, under which rules.

Every change NOTIFYs ``aedgw_operators`` with the operator's code, so that each process
drops its cached profile (:class:`ProfileCache`) and the new limits and certificates
apply at once, without a restart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from gateway import audit
from gateway.audit import Actor
from gateway.store import Q

NOTIFY_CHANNEL = "aedgw_operators"
CACHE_SECONDS = 60.0
"""A cached profile is read again after this long even without a NOTIFY (one missed
while the LISTEN connection was down)."""
CODE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
"""An operator code; the operators table's CHECK says the same (migration 0001)."""


def code_problem(code: str) -> str | None:
    """What is wrong with ``code`` as an operator code (None when it is one)."""
    if CODE.fullmatch(code):
        return None
    if CODE.fullmatch(code.lower()):
        return f"operator codes are lower case: {code.lower()!r}, not {code!r}"
    return f"{code!r} is not an operator code (a lower-case letter, then letters, digits, - or _)"


@dataclass(frozen=True, slots=True)
class Profile:
    code: str
    name: str
    formats: tuple[str, ...]
    allow_bilateral: bool = False
    all_or_nothing: bool = False
    callback_url: str | None = None
    callback_secret: str | None = None
    disabled_at: datetime | None = None
    rate_per_s: float | None = None
    """Requests per second for the whole gateway; None: ``limits.operator_requests_per_s``."""
    concurrency: int | None = None
    """Requests in flight for the whole gateway; None: ``limits.operator_concurrency``."""
    cert_fingerprints: frozenset[str] = field(default_factory=frozenset)
    """SHA-256 (lower-case hex) of the client certificates it may present."""
    require_client_cert: bool = False
    """Refuse its requests unless they come with one of those certificates (mTLS)."""

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Profile:
        return cls(
            code=row["code"],
            name=row["name"],
            formats=tuple(row["formats"]),
            allow_bilateral=row["allow_bilateral"],
            all_or_nothing=row["all_or_nothing"],
            callback_url=row["callback_url"],
            callback_secret=row["callback_secret"],
            disabled_at=row["disabled_at"],
            rate_per_s=row["rate_per_s"],
            concurrency=row["concurrency"],
            cert_fingerprints=frozenset(row["cert_fingerprints"]),
            require_client_cert=row["require_client_cert"],
        )


POLICY_FIELDS = ("rate_per_s", "concurrency", "cert_fingerprints", "require_client_cert")
"""What ``aedgw operators set`` changes: limits and client certificates."""


_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as lower-case hex; accepts ``openssl x509 -fingerprint``
    output (``AB:CD:…``, with or without its ``SHA256 Fingerprint=`` prefix)."""
    value = text.rpartition("=")[2].replace(":", "").strip().lower()
    if not _FINGERPRINT.match(value):
        raise ValueError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits)")
    return value


class OperatorExists(Exception):
    """``operators add`` of a code already registered."""


class OperatorUnknown(LookupError):
    """No operator has this code; ``known`` lists those that exist."""

    def __init__(self, code: str, known: list[str]) -> None:
        listed = ", ".join(known) or "none yet"
        super().__init__(f"no operator {code!r} (known: {listed})")
        self.code = code
        self.known = known


class PolicyInvalid(ValueError):
    """A change that would leave the operator unable to send at all."""


async def add(conn: asyncpg.Connection, profile: Profile, actor: Actor) -> None:
    async with conn.transaction():
        added = await conn.fetchval(
            Q.insert_operator,
            profile.code,
            profile.name,
            list(profile.formats),
            profile.allow_bilateral,
            profile.all_or_nothing,
            profile.callback_url,
            profile.callback_secret,
        )
        if added is None:
            raise OperatorExists(profile.code)
        details = {
            "name": profile.name,
            "formats": list(profile.formats),
            "allow_bilateral": profile.allow_bilateral,
            "all_or_nothing": profile.all_or_nothing,
            "callback_url": profile.callback_url,
        }
        await audit.record(conn, actor, "operators.add", profile.code, details)


async def get(conn: asyncpg.Connection | asyncpg.Pool, code: str) -> Profile | None:
    row = await conn.fetchrow(Q.get_operator, code)
    return Profile.from_row(row) if row else None


async def list_all(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(Q.list_operators)


async def codes(conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """Every registered operator's code, in order."""
    return [row["code"] for row in await conn.fetch(Q.list_operators)]


async def require(conn: asyncpg.Connection | asyncpg.Pool, code: str) -> Profile:
    """The operator's profile; OperatorUnknown (listing the known codes) when none."""
    profile = await get(conn, code)
    if profile is None:
        raise OperatorUnknown(code, await codes(conn))
    return profile


async def disable(conn: asyncpg.Connection, code: str, actor: Actor) -> bool:
    """Refuse the operator's keys from now on, in every process (their caches are dropped)."""
    async with conn.transaction():
        done = await conn.fetchval(Q.disable_operator, code) is not None
        if done:
            await audit.record(conn, actor, "operators.disable", code)
        await conn.execute(Q.notify_keys, "*")
        await conn.execute(Q.notify_operators, code)
    return done


async def set_policy(
    conn: asyncpg.Connection, code: str, change: Callable[[Profile], Profile], actor: Actor
) -> Profile:
    """Change an operator's limits and certificates (:data:`POLICY_FIELDS`) with
    ``change``, applied to the profile as stored; every process sees it at once."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_operator, code)
        if row is None:
            raise OperatorUnknown(code, await codes(conn))
        before = Profile.from_row(row)
        after = change(before)
        if after.require_client_cert and not after.cert_fingerprints:
            raise PolicyInvalid("require_client_cert needs at least one certificate fingerprint")
        await conn.execute(
            Q.update_operator_policy,
            code,
            after.rate_per_s,
            after.concurrency,
            sorted(after.cert_fingerprints),
            after.require_client_cert,
        )
        changed = {
            name: {"from": _plain(getattr(before, name)), "to": _plain(getattr(after, name))}
            for name in POLICY_FIELDS
            if getattr(before, name) != getattr(after, name)
        }
        await audit.record(conn, actor, "operators.set", code, changed)
        await conn.execute(Q.notify_operators, code)
    return after


def _plain(value: Any) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value


class ProfileCache:
    """Profiles by operator code, per process: read once, dropped on a NOTIFY of a
    change (or all of them when the LISTEN connection was lost), and re-read after
    :data:`CACHE_SECONDS` in any case."""

    def __init__(self, max_age_s: float = CACHE_SECONDS) -> None:
        self._max_age_s = max_age_s
        self._entries: dict[str, tuple[float, Profile | None]] = {}

    def invalidate(self, code: str | None = None) -> None:
        if code and code != "*":
            self._entries.pop(code, None)
        else:
            self._entries.clear()

    async def get(self, pool: asyncpg.Pool, code: str) -> Profile | None:
        entry = self._entries.get(code)
        if entry is None or time.monotonic() - entry[0] > self._max_age_s:
            entry = (time.monotonic(), await get(pool, code))
            self._entries[code] = entry
        return entry[1]
