"""Limits that keep one operator, by mistake or on purpose, from starving the others.

Every figure in ``[limits]`` is for the whole gateway; each process enforces its share,
the figure divided by ``Settings.workers`` (the kernel spreads connections over the
worker processes, so the shares add up to the whole). Per operator: requests per second
(a token bucket, one second of burst) and requests in flight, both overridable per
operator with ``aedgw operators set``. Per process: bytes of request bodies held in
memory, and a body must arrive within ``body_timeout_s`` and at no less than
``min_upload_bytes_per_s`` on average (after a grace of :data:`UPLOAD_GRACE_S`), so
that a client trickling one byte a second cannot hold a connection and its memory.

This module decides; ``gateway.http.limits`` turns a refusal into a 429, 503 or 408.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gateway.config import ConfigError, Limits
from gateway.delivery.pacing import RowBudget  # the token bucket, here over requests

UPLOAD_GRACE_S = 5.0
"""Seconds a body may take before the minimum upload rate applies."""
OVERLOADED_RETRY_S = 2
"""Retry-After of a 503 overloaded: bodies in memory are usually gone within seconds."""


class Limit(StrEnum):
    """Which limit refused a request (the ``limit`` of the error's details and metric)."""

    RATE = "rate"
    CONCURRENCY = "concurrency"
    BODY_MEMORY = "body_memory"
    BODY_TIMEOUT = "body_timeout"
    CONNECTIONS = "connections"


class Refused(Exception):
    """A request over a limit: ``limit`` names which, ``retry_after_s`` when to resend."""

    def __init__(self, limit: Limit, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Share:
    """This process's part of a gateway-wide operator limit."""

    rate_per_s: float
    concurrency: int


class OperatorLimiter:
    """Requests per second and in flight per operator, in this process."""

    def __init__(
        self, limits: Limits, workers: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = limits
        self._workers = workers
        self._clock = clock
        self._buckets: dict[str, RowBudget] = {}
        self._in_flight: dict[str, int] = {}

    def share(self, rate_per_s: float | None, concurrency: int | None) -> Share:
        """This process's share of an operator's limits (None: the gateway default)."""
        rate = rate_per_s or self._limits.operator_requests_per_s
        total = concurrency or self._limits.operator_concurrency
        return Share(rate / self._workers, max(1, total // self._workers))

    def admit(self, operator: str, share: Share) -> None:
        """Take one of the operator's request slots (give it back with :meth:`release`),
        or raise :class:`Refused`; a refused request takes no slot."""
        bucket = self._buckets.get(operator)
        if bucket is None or bucket.rate != share.rate_per_s:
            burst = max(1.0, share.rate_per_s)
            bucket = RowBudget(share.rate_per_s, burst, clock=self._clock)
            self._buckets[operator] = bucket
        if bucket.available() < 1:
            raise Refused(
                Limit.RATE,
                f"over {share.rate_per_s * self._workers:g} requests per second",
                math.ceil(bucket.wait_s()),
            )
        bucket.spend(1)
        if self._in_flight.get(operator, 0) >= share.concurrency:
            raise Refused(
                Limit.CONCURRENCY,
                f"over {share.concurrency * self._workers} requests in flight",
                1,
            )
        self._in_flight[operator] = self._in_flight.get(operator, 0) + 1

    def release(self, operator: str) -> None:
        self._in_flight[operator] -= 1


class BodyMemory:
    """Bytes of request bodies this process holds; a body that would go over the
    capacity is refused (503 overloaded) instead of growing the process."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0

    def hold(self) -> BodyHold:
        return BodyHold(self)


class BodyHold:
    """One request's share of :class:`BodyMemory`, given back when the request ends."""

    def __init__(self, memory: BodyMemory) -> None:
        self._memory = memory
        self.size = 0

    def resize(self, size: int) -> None:
        """Hold ``size`` bytes in all (more or fewer than before), or raise Refused."""
        memory = self._memory
        if size > self.size and memory.held + size - self.size > memory.capacity:
            raise Refused(
                Limit.BODY_MEMORY,
                "the gateway holds too much request data now; resend later",
                OVERLOADED_RETRY_S,
            )
        memory.held += size - self.size
        self.size = size

    def release(self) -> None:
        self.resize(0)


@dataclass(frozen=True, slots=True)
class UploadPace:
    """When the rest of a body must have arrived, given what arrived already."""

    started: float
    timeout_s: float
    min_bytes_per_s: float

    def deadline(self, received: int) -> float:
        """The clock time by which the next bytes must come (``received`` so far)."""
        by_rate = UPLOAD_GRACE_S + received / self.min_bytes_per_s
        return self.started + min(self.timeout_s, by_rate)

    def refusal(self, received: int, now: float) -> Refused:
        if now - self.started >= self.timeout_s:
            why = f"the body took over {self.timeout_s:g} s"
        else:
            why = f"the body arrived slower than {self.min_bytes_per_s:g} bytes/s"
        return Refused(Limit.BODY_TIMEOUT, f"{why} ({received} bytes received)", 1)


def check(limits: Limits, workers: int) -> None:
    """Refuse settings under which the gateway could not work: a process's share of
    body memory must hold at least one body of the largest size accepted (each value's
    own range is checked when the settings are read)."""
    if limits.body_memory_bytes // workers < limits.max_body_bytes:
        raise ConfigError(
            f"limits.body_memory_bytes: {limits.body_memory_bytes} shared by {workers} "
            f"worker(s) is less than one body of limits.max_body_bytes "
            f"({limits.max_body_bytes})"
        )
