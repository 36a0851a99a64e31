"""Pacing row-by-row work (replaying dead letters, backfilling a target) so that it
never hits an endpoint with everything at once: a token bucket over rows, and a loop
that does work in chunks of what the bucket allows, sleeping while it refills."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def paced(budget: RowBudget, step: Callable[[int], Awaitable[tuple[int, bool]]]) -> None:
    """Call ``step(allowed)`` until it answers ``(rows spent, done)`` with done."""
    while True:
        allowed = budget.available()
        if allowed < 1:
            await asyncio.sleep(budget.wait_s())
            continue
        spent, done = await step(allowed)
        budget.spend(spent)
        if done:
            return


class RowBudget:
    """A token bucket over rows: ``rate`` rows per second, at most ``burst``
    at once. Spending more than is there leaves a debt that later calls wait out."""

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def available(self) -> int:
        """Whole rows that may be worked on now."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return int(self._tokens)

    def wait_s(self) -> float:
        """Seconds until at least one row may be worked on."""
        return 0.0 if self.available() >= 1 else (1 - self._tokens) / self.rate

    def spend(self, rows: int) -> None:
        self.available()
        self._tokens -= rows
