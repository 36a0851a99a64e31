"""Operator profiles: who may send, in which formats, under which rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway.store import Q

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
        )


class OperatorExists(Exception):
    """``operators add`` of a code already registered."""


class OperatorUnknown(LookupError):
    """No operator has this code; ``known`` lists those that exist."""

    def __init__(self, code: str, known: list[str]) -> None:
        listed = ", ".join(known) or "none yet"
        super().__init__(f"no operator {code!r} (known: {listed})")
        self.code = code
        self.known = known


async def add(conn: asyncpg.Connection, profile: Profile) -> None:
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


async def disable(conn: asyncpg.Connection, code: str) -> bool:
    """Refuse the operator's keys from now on, in every process (their caches are dropped)."""
    async with conn.transaction():
        done = await conn.fetchval(Q.disable_operator, code) is not None
        await conn.execute(Q.notify_keys, "*")
    return done
