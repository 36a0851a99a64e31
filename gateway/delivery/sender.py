"""What puts a leased batch on the wire: an HTTP POST (``webhook``) or a JetStream
publish (``jetstream``). The worker claims, asks the sender, and settles what it answers;
retries, dead letters and the breaker are the same whatever the sender."""

from __future__ import annotations

from typing import Protocol

import asyncpg

from gateway.delivery.outbox import Batch
from gateway.delivery.policy import Attempt


class Sender(Protocol):
    send_s: float
    """The longest one ``send`` may take: a lease outlives it, so no other worker claims
    a row this one may still be sending."""

    async def open(self) -> None:
        """Set up what sending needs; must not fail when the target is down."""
        ...

    async def send(self, pool: asyncpg.Pool, batch: Batch) -> Attempt:
        """Send every row of ``batch``; failures are answered, never raised."""
        ...

    async def close(self) -> None: ...
