"""Amendments: what an incoming item does to the item already stored (DOMAIN.md table).

Pure logic, no database: the store locks the items' current states, asks
:func:`resolve` for each incoming item in message order, and writes what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import orjson

from gateway.canonical import Function
from gateway.codes import ItemCode

# Bookkeeping that may differ between two sendings of the same data.
_NOT_DATA = ("source_path", "quality_flags")


def data_sha256(wire: dict[str, Any]) -> str:
    """Fingerprint of an item's canonical data (its ``item_to_dict`` form): equal
    fingerprints mean an identical resend."""
    data = wire.copy()  # a copy less its two keys: a third of a comprehension's time
    for key in _NOT_DATA:
        data.pop(key, None)
    return sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class ItemState:
    """What the store holds for an item: its latest revision, function and data."""

    revision: int
    function: Function
    data_sha256: str

    @property
    def cancelled(self) -> bool:
        return self.function is Function.CANCEL


@dataclass(frozen=True, slots=True)
class NewRevision:
    revision: int
    function: Function


@dataclass(frozen=True, slots=True)
class Unchanged:
    """An identical resend: counted, neither stored again nor forwarded."""


@dataclass(frozen=True, slots=True)
class Refused:
    code: ItemCode
    message: str


Outcome = NewRevision | Unchanged | Refused


def resolve(
    current: ItemState | None, function: Function | None, revision: int | None, sha: str
) -> Outcome:
    """Apply the amendment rules to one incoming item.

    ``function``/``revision`` are the operator's explicit ones (None when its format has
    none). An explicit resend of the stored revision with identical data is ``Unchanged``
    rather than a conflict, so that resending a message in a new envelope is harmless.
    """
    if current is None:
        if function in (Function.UPDATE, Function.CANCEL):
            return Refused(ItemCode.ITEM_UNKNOWN, f"{function} of an item never seen")
        return NewRevision(revision or 1, Function.ORIGINAL)

    identical = sha == current.data_sha256
    if identical and revision in (None, current.revision) and function in (None, current.function):
        return Unchanged()
    if current.cancelled:
        return Refused(
            ItemCode.ITEM_CANCELLED, f"item was cancelled at revision {current.revision}"
        )
    if function is None:
        return NewRevision(current.revision + 1, Function.UPDATE)
    if function is Function.ORIGINAL:
        return Refused(
            ItemCode.REVISION_CONFLICT,
            f"ORIGINAL of an item already stored at revision {current.revision}",
        )
    if revision is None:
        return NewRevision(current.revision + 1, function)
    if revision <= current.revision:
        return Refused(
            ItemCode.REVISION_CONFLICT,
            f"revision {revision} is not above the stored revision {current.revision}",
        )
    return NewRevision(revision, function)


def advance(outcome: NewRevision, sha: str) -> ItemState:
    """The item's state after a new revision, for the next item of the same message."""
    return ItemState(outcome.revision, outcome.function, sha)
