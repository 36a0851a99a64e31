"""A circuit breaker per endpoint: stop hammering an endpoint that is down.

Closed: requests flow. After ``threshold`` consecutive transient failures it opens: no
requests at all (the backlog waits in the database, never in memory). After
``cooldown_s`` it is half-open: one caller probes with a single record; success closes
it, failure opens it again. Each process keeps its own breaker: they agree on the
endpoint's health without sharing state, and each stops its own requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum, IntEnum

from gateway.logging import get_logger

log = get_logger(__name__)


class CircuitState(IntEnum):
    """Values of the ``aedgw_circuit_state`` gauge."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class Permit(Enum):
    FULL = "full"
    """Send a full batch."""
    PROBE = "probe"
    """Send one record to find out whether the endpoint is back."""


class Circuit:
    def __init__(
        self,
        name: str,
        threshold: int,
        cooldown_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[CircuitState], None] | None = None,
    ) -> None:
        self.name = name
        """The endpoint's queue, as the logs name it."""
        self.threshold = max(threshold, 1)
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._hold_until = 0.0

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock() >= self._opened_at + self.cooldown_s:
            self._set(CircuitState.HALF_OPEN)
        return self._state

    def acquire(self) -> Permit | None:
        """What the caller may send now; None means wait ``wait_s()`` and ask again."""
        if self._clock() < self._hold_until:
            return None
        state = self.state
        if state is CircuitState.CLOSED:
            return Permit.FULL
        if state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return Permit.PROBE
        return None

    def release(self, permit: Permit, ok: bool | None) -> None:
        """The outcome of a permitted request: ``ok`` False for a transient failure, None
        when nothing was sent (an empty queue proves nothing)."""
        if permit is Permit.PROBE:
            self._probing = False
        if ok is None:
            return
        if ok:
            self._failures = 0
            self._set(CircuitState.CLOSED)
            return
        self._failures += 1
        if permit is Permit.PROBE or self._failures >= self.threshold:
            self._opened_at = self._clock()
            self._set(CircuitState.OPEN)

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429's Retry-After), whatever the state."""
        self._hold_until = max(self._hold_until, self._clock() + seconds)

    def wait_s(self) -> float:
        """How long until ``acquire`` may say yes (a short poll while a probe is out)."""
        now = self._clock()
        wait = self._hold_until - now
        if self._state is CircuitState.OPEN:
            wait = max(wait, self._opened_at + self.cooldown_s - now)
        return max(wait, 0.05)

    def _set(self, state: CircuitState) -> None:
        if state is self._state:
            return
        self._state = state
        if state is CircuitState.OPEN:
            log.warning(
                "circuit_open", target=self.name, failures=self._failures,
                cooldown_s=self.cooldown_s,
            )
        else:
            log.info(f"circuit_{state.name.lower()}", target=self.name)
        if self._on_change:
            self._on_change(state)
