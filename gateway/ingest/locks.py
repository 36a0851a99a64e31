"""Item locks: which advisory locks a transaction storing items takes, and in what order.

Taken before the transaction first writes, hence before it has an xid: the feed orders
by xid, so a message that waited for another one amending the same item commits with
the later xid, and the item's revisions stay in order on the feed (issue 9.4).
"""

from __future__ import annotations

import zlib

# Each item has a fine lock; each of COARSE_BUCKETS buckets of items a coarse one.
# A group of at most FINE_MAX items takes its buckets shared and its items exclusive
# (groups on different items never wait for each other); a larger group takes its
# buckets exclusive. So a transaction holds about 2,000 advisory locks at most: the
# server's lock table is shared by every transaction (the embedded server's holds some
# 14,000 in all), and a process runs a few groups at a time. A stream takes every bucket
# exclusive (gateway.ingest.store's _stream). All take buckets before items, each in
# ascending order: no deadlock between them.
_FINE_SPACE, _COARSE_SPACE = 1095057769, 1095057770
COARSE_BUCKETS = 1024
FINE_MAX = 1000

Locks = tuple[list[int], list[int], list[bool]]
"""(lock space, key, shared) of each advisory lock, as columns in the order taken."""

EVERY_BUCKET: Locks = (
    [_COARSE_SPACE] * COARSE_BUCKETS, list(range(COARSE_BUCKETS)), [False] * COARSE_BUCKETS
)
"""A stream's locks: every bucket, exclusive (``gateway.ingest.store._stream``)."""
NO_LOCKS: Locks = ([], [], [])


def lock_plan(keys: set[tuple[str, str]]) -> Locks:
    """(lock space, key, shared) of each advisory lock for these (operator, item id)
    keys, in the order they are taken."""
    hashes = sorted({zlib.crc32(f"{op}\x1f{item}".encode()) for op, item in keys})
    buckets = sorted({h % COARSE_BUCKETS for h in hashes})
    if len(hashes) > FINE_MAX:
        return [_COARSE_SPACE] * len(buckets), buckets, [False] * len(buckets)
    fine = [h - 2**31 for h in hashes]  # as int4, still ascending
    return (
        [_COARSE_SPACE] * len(buckets) + [_FINE_SPACE] * len(fine),
        buckets + fine,
        [True] * len(buckets) + [False] * len(fine),
    )
