"""The pull feed: record revisions in a stable order with no gaps under concurrent writers.

Sequence values commit out of order, so ``seq > cursor`` skips rows. Reading only rows
whose transaction id is below the oldest transaction still running (``pg_snapshot_xmin``)
makes every row read final, but ordering those rows by ``seq`` is still not enough: an
older transaction (smaller xid) can insert after a newer one took a smaller seq, commit
first, and pass the xmin filter while the newer one's row is still invisible. So the
feed orders by ``(xid, seq)`` and the cursor holds both: any row that becomes readable
later belongs to a transaction at or above the xmin of every earlier read, hence sorts
after every cursor already handed out. Within a transaction rows keep their seq order.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, ClassVar

import asyncpg
import orjson

from gateway.canonical import format_time
from gateway.store import Q
from xsd import schema_path

RECORDS_CHANNEL = "aedgw_records"
"""The NOTIFY channel intake signals on when it commits records."""
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WAIT_S = 30.0
POLL_S = 1.0
"""Long-pollers re-read this often even without a NOTIFY (missed, or listener down)."""

_CURSOR_VERSION = 1
_CURSOR = struct.Struct(">BQQ")
_BIGINT_MAX = 2**63 - 1


class CursorInvalid(ValueError):
    """The ``after`` value is not a cursor this gateway handed out."""


class CursorGone(LookupError):
    """Entries after the cursor were purged, or the cursor came from data a restore did
    not bring back: reading on would hide a gap."""

    REASONS: ClassVar[dict[str, str]] = {
        "purged": "entries after this cursor were purged; start again without one",
        "restored": "this cursor comes from data lost in a restore from backup; "
        "start again without one",
    }


class ItemAmbiguous(LookupError):
    """Two or more operators use the item id; the caller must name one."""

    def __init__(self, operators: list[str]) -> None:
        super().__init__(f"item id used by {', '.join(operators)}")
        self.operators = operators


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A feed position: the last record read, as (transaction id, sequence)."""

    xid: int
    seq: int

    def encode(self) -> str:
        raw = _CURSOR.pack(_CURSOR_VERSION, self.xid, self.seq)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The position in an opaque cursor; versioned so the format can change later."""
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            version, xid, seq = _CURSOR.unpack(raw)
        except (ValueError, binascii.Error, struct.error):
            raise CursorInvalid("not a feed cursor") from None
        if version != _CURSOR_VERSION or xid > _BIGINT_MAX or seq > _BIGINT_MAX:
            raise CursorInvalid("not a feed cursor")
        return cls(xid, seq)


START = Cursor(0, 0)


@dataclass(frozen=True, slots=True)
class Page:
    """Entries and the cursor after the last one: records as their stored JSON bytes,
    an operator's outcomes as values."""

    entries: list[Any]
    next: Cursor


class FeedSignal:
    """Wakes this process's long-pollers; fed by the one LISTEN connection's callback.

    A waiter takes the current event *before* reading, so a NOTIFY that lands between its
    read and its wait still wakes it. ``None`` (listener lost) wakes everyone as well.
    """

    def __init__(self, poll_s: float = POLL_S) -> None:
        self.poll_s = poll_s
        self.closed = False
        self._event = asyncio.Event()

    def wake(self, _payload: str | None = None) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        """The server is stopping: waiters answer with what they have, now."""
        self.closed = True
        self.wake()

    def current(self) -> asyncio.Event:
        return self._event


async def read(
    pool: asyncpg.Pool,
    signal: FeedSignal,
    after: Cursor | None,
    limit: int,
    wait_s: float = 0.0,
) -> Page:
    """The records after ``after`` (from the oldest kept when None), waiting up to
    ``wait_s`` for some. No connection is held while waiting."""
    if after is not None:
        await check_kept(pool, "records", after)
    position = after or START
    return await long_poll(signal, wait_s, lambda: read_page(pool, position, limit))


async def long_poll(
    signal: FeedSignal, wait_s: float, fetch: Callable[[], Awaitable[Page]]
) -> Page:
    """``fetch`` until it returns something or ``wait_s`` runs out, re-reading on each
    wake-up of ``signal`` and at least every ``signal.poll_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        woken = signal.current()
        page = await fetch()
        remaining = deadline - time.monotonic()
        if page.entries or remaining <= 0 or signal.closed:
            return page
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), min(signal.poll_s, remaining))


async def read_page(pool: asyncpg.Pool, after: Cursor, limit: int) -> Page:
    rows = await pool.fetch(Q.feed_page, str(after.xid), after.seq, limit)
    if not rows:
        return Page([], after)
    return Page([row["body"] for row in rows], Cursor(rows[-1]["xid"], rows[-1]["seq"]))


def page_json(page: Page) -> bytes:
    """A records page as ``{"records": [...], "next": ...}``: the stored bytes spliced in
    as they are, never decoded and encoded again."""
    cursor = orjson.dumps(page.next.encode())
    return b'{"records":[' + b",".join(page.entries) + b'],"next":' + cursor + b"}"


def decoded(body: bytes) -> dict[str, Any]:
    """A stored record as a value, keys in wire order (rows stored before migration 0007,
    as jsonb, have jsonb's order)."""
    return wire_order(orjson.loads(body), _record_order())


async def check_kept(pool: asyncpg.Pool, feed: str, after: Cursor) -> None:
    """Raise CursorGone when ``feed`` (records, outcomes) may miss entries after ``after``."""
    reason = await pool.fetchval(Q.cursor_gone, feed, str(after.xid), after.seq)
    if reason is not None:
        raise CursorGone(CursorGone.REASONS[reason])


async def item_ledger(
    pool: asyncpg.Pool, item_id: str, operator: str | None
) -> dict[str, Any] | None:
    """An item's latest revision, every revision, and its push deliveries: one snapshot,
    so that what the feed served and what delivery did are shown consistently."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(Q.item_revisions, item_id, operator)
        if not rows:
            return None
        operators = sorted({row["operator"] for row in rows})
        if len(operators) > 1:
            raise ItemAmbiguous(operators)
        deliveries = await conn.fetch(Q.item_deliveries, operators[0], item_id)
    history = [decoded(row["body"]) for row in rows]
    return {
        "operator": operators[0],
        "item_id": item_id,
        "latest": history[-1],
        "history": history,
        "deliveries": [_delivery(row) for row in deliveries],
    }


def _delivery(row: asyncpg.Record) -> dict[str, Any]:
    return {
        name: format_time(value) if isinstance(value, datetime) else value
        for name, value in row.items()
    } | {"record_id": str(row["record_id"])}


# Bodies stored as jsonb (before migration 0007) have keys sorted by length, not in the
# wire order; the XML form needs that order (xs:sequence) and people reading JSON expect
# it. The JSON Schema lists properties in wire order (tests/test_canonical_schema.py
# checks it).

Order = Mapping[str, "Order | None"]


def wire_order(value: Any, order: Order | None) -> Any:
    """``value`` with object keys in canonical order, recursively; unknown keys last."""
    if isinstance(value, list):
        return [wire_order(entry, order) for entry in value]
    if order is None or not isinstance(value, dict):
        return value
    ordered = {
        name: value[name] if sub is None else wire_order(value[name], sub)
        for name, sub in order.items()
        if name in value
    }
    if len(ordered) < len(value):
        ordered |= {name: v for name, v in value.items() if name not in ordered}
    return ordered


@cache
def _record_order() -> Order:
    schema = orjson.loads(schema_path("canonical.schema.json").read_bytes())
    return _order_of(schema, schema["$defs"]) or {}


def _order_of(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Order | None:
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b != {"type": "null"}]
        node = branches[0] if len(branches) == 1 else {}
    if "$ref" in node:
        return _order_of(defs[node["$ref"].removeprefix("#/$defs/")], defs)
    if "items" in node:
        return _order_of(node["items"], defs)
    properties = node.get("properties")
    if properties is None:
        return None
    return {name: _order_of(sub, defs) for name, sub in properties.items()}
