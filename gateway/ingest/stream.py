"""Streams: a message too large to hold translated whole is stored a chunk at a time.

A translated item costs some 8 KB and its record a few more, so a 50,000-line file
held translated, then written in one statement, took well over a gigabyte. A message
whose reading passes ``[ingest] stream_items`` items becomes a :class:`Stream`: its
chunks are translated on a thread, one ahead of the store, which writes each before it
asks for the next (gateway/ingest/store.py, ``store_stream``). Only the raw bytes are
held whole, once, for the archive. A smaller message is read whole, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from gateway.ingest.adapt import Reading, Translation


@dataclass(slots=True)
class Stream:
    """A message read past the threshold: its head (adapter and reference, no items),
    the chunks read while deciding, and the rest still to read."""

    head: Translation
    first: list[Translation] | None
    rest: Iterator[Translation]
    again: Callable[[], Iterator[Translation]]
    """Reads the message's chunks from its bytes again (parse included)."""

    def chunks(self) -> AsyncIterator[Translation]:
        """The message's chunks from the start: the first call goes on from where the
        decision stopped, every later one (a transaction run again after a lost
        deadlock) reads the message again."""
        if self.first is None:
            return _pumped([], self.again())
        first, self.first = self.first, None
        return _pumped(first, self.rest)


def gather(
    reading: Reading, chunk_items: int, stream_items: int, again: Callable[[], Reading]
) -> Translation | Stream:
    """Read ``reading``'s chunks of ``chunk_items`` items: the whole message when it has
    at most ``stream_items`` items (counting those refused), else a :class:`Stream` as
    soon as it passes that (``again`` reads the message from its bytes once more).
    Raises what :meth:`Reading.chunks` raises."""

    def reread() -> Iterator[Translation]:
        # a generator: the parse runs at the first chunk asked for, on the pump's thread
        yield from again().chunks(chunk_items)

    chunks = reading.chunks(chunk_items)
    whole = reading.head()
    read: list[Translation] = []
    for chunk in chunks:
        read.append(chunk)
        whole.extend(chunk)
        if whole.received > stream_items:
            return Stream(reading.head(), read, chunks, reread)
    return whole


async def _pumped(
    first: list[Translation], rest: Iterator[Translation]
) -> AsyncIterator[Translation]:
    """``first``, then the chunks of ``rest``, each translated on a thread while the
    caller stores the one before."""
    first.reverse()
    pending = asyncio.ensure_future(asyncio.to_thread(next, rest, None))
    try:
        while first:
            yield first.pop()  # dropped here as soon as the caller is done with it
        while (chunk := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, rest, None))
            yield chunk
    finally:
        # a thread cannot be stopped: the chunk it translates (or what it raises) is
        # waited for, so that a reading runs on one thread at a time
        await asyncio.gather(pending, return_exceptions=True)
