"""The amendment table of DOMAIN.md, row by row."""

from __future__ import annotations

import pytest

from gateway.canonical import Function
from gateway.codes import ItemCode
from gateway.ingest.revisions import ItemState, NewRevision, Refused, Unchanged, resolve

A, B = "a" * 64, "b" * 64
STORED = ItemState(2, Function.UPDATE, A)
CANCELLED = ItemState(3, Function.CANCEL, A)
ORIG, U, C = Function.ORIGINAL, Function.UPDATE, Function.CANCEL


@pytest.mark.parametrize(
    ("current", "function", "revision", "sha", "outcome"),
    [
        # first time seen
        (None, None, None, A, NewRevision(1, ORIG)),
        (None, ORIG, None, A, NewRevision(1, ORIG)),
        (None, ORIG, 4, A, NewRevision(4, ORIG)),
        (None, U, 2, A, Refused(ItemCode.ITEM_UNKNOWN, "")),
        (None, C, None, A, Refused(ItemCode.ITEM_UNKNOWN, "")),
        # seen before, identical data, no explicit function: unchanged
        (STORED, None, None, A, Unchanged()),
        # seen before, changed data, no explicit function: the next revision, an UPDATE
        (STORED, None, None, B, NewRevision(3, U)),
        # explicit UPDATE above the stored revision, gaps allowed
        (STORED, U, 5, B, NewRevision(5, U)),
        (STORED, U, None, B, NewRevision(3, U)),
        (STORED, C, 3, A, NewRevision(3, C)),
        # explicit revision not above the stored one
        (STORED, U, 2, B, Refused(ItemCode.REVISION_CONFLICT, "")),
        (STORED, C, 1, A, Refused(ItemCode.REVISION_CONFLICT, "")),
        (STORED, ORIG, None, B, Refused(ItemCode.REVISION_CONFLICT, "")),
        # an explicit resend of the stored revision with identical data is harmless
        (STORED, U, 2, A, Unchanged()),
        # after a CANCEL only an identical resend passes
        (CANCELLED, None, None, A, Unchanged()),
        (CANCELLED, C, 3, A, Unchanged()),
        (CANCELLED, None, None, B, Refused(ItemCode.ITEM_CANCELLED, "")),
        (CANCELLED, U, 4, B, Refused(ItemCode.ITEM_CANCELLED, "")),
    ],
)
def test_amendment_rules(current, function, revision, sha, outcome) -> None:
    got = resolve(current, function, revision, sha)
    if isinstance(outcome, Refused):
        assert isinstance(got, Refused)
        assert got.code is outcome.code
        assert got.message
    else:
        assert got == outcome
