"""A delivery channel: how a batch of one outbox queue's rows is rendered, and how a
refusal names them. Targeting records are one channel; customs decisions pushed to
operators' callback URLs are another, on the same worker. Where a queue's batches go,
and how hard to try, is its ``gateway.config.Target``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from gateway.delivery.outbox import Batch


@dataclass(frozen=True, slots=True)
class Payload:
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers, e.g. a signature of the body."""


class Channel(Protocol):
    """How the rows of a batch go on the wire, and how a refusal names them."""

    async def render(self, pool: asyncpg.Pool, batch: Batch) -> Payload: ...

    def rejected(self, batch: Batch, answer: Any) -> dict[int, str]:
        """Row ids a 4xx answer (parsed JSON, or None) refuses by name, with reasons."""
        ...
