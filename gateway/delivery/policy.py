"""What an attempt's answer means for each row of its batch: delivered, retried later
(capped exponential backoff with full jitter), split to find a poison record, or dead.

Kept free of any HTTP client: the worker turns a response or an exception into an
``Attempt``, and this module decides.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from gateway.config import Retry
from gateway.delivery.outbox import Batch, Row, Settlement, State

MAX_ERROR_CHARS = 500
MAX_RETRY_AFTER_S = 3600.0
"""A receiver's Retry-After is honoured up to an hour; beyond that the backoff rules."""


class Code(StrEnum):
    """Why an attempt failed; stored in ``outbox.error_code`` and used as a metric label."""

    CONNECTION = "connection"
    """Refused, reset, dropped mid-answer, TLS or DNS failure."""
    TIMEOUT = "timeout"
    THROTTLED = "throttled"
    """429: retried no sooner than its Retry-After."""
    SERVER_ERROR = "server_error"
    """5xx, 408, 425."""
    CLIENT_ERROR = "client_error"
    """Any other status (other 4xx, an unexpected 3xx): permanent."""
    REJECTED = "rejected"
    """The receiver named this record as refused (partial-result answer)."""
    TOO_LARGE = "too_large"
    """The record is larger than the target takes at all (a NATS server's max_payload)."""
    LEASE_EXPIRED = "lease_expired"
    """The worker holding the row stopped before recording an answer."""


TRANSIENT = frozenset({Code.CONNECTION, Code.TIMEOUT, Code.THROTTLED, Code.SERVER_ERROR})
# 4xx answers about the content: splitting the batch finds the record they are about.
# Others (401, 403, 404...) are about the endpoint, and would fail for every half too.
CONTENT_STATUSES = frozenset({400, 409, 413, 422})


def classify(status: int) -> Code | None:
    """None for success (2xx), else the failure class of an HTTP status."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return Code.THROTTLED
    if status >= 500 or status in (408, 425):
        return Code.SERVER_ERROR
    return Code.CLIENT_ERROR


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST of a batch came to: an HTTP status, or a failure without an answer."""

    status: int | None = None
    failure: Code | None = None
    message: str = ""
    retry_after_s: float | None = None
    rejected: Mapping[int, str] = field(default_factory=dict)
    """Row ids refused for good by name (partial-result answer), with the reasons."""
    rejected_code: Code = Code.REJECTED
    """The dead-letter code of the rows in ``rejected``."""
    accepted: frozenset[int] = frozenset()
    """Row ids taken although the attempt as a whole failed (a stream acknowledges each
    message of a batch on its own)."""

    @property
    def code(self) -> Code | None:
        return self.failure if self.status is None else classify(self.status)

    @property
    def transient(self) -> bool:
        """A failure of the endpoint rather than of the records: counts for the circuit."""
        return self.code in TRANSIENT


def backoff(attempts: int, retry: Retry, rng: random.Random) -> float:
    """Seconds before the next try after ``attempts`` failed ones: full jitter over a
    capped exponential, so that rows failed together do not come back together."""
    cap = min(retry.max_delay_s, retry.base_delay_s * 2 ** max(attempts - 1, 0))
    return rng.uniform(0, cap)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def plan(
    batch: Batch, attempt: Attempt, retry: Retry, rng: random.Random
) -> list[Settlement]:
    """The settlement of every row of ``batch`` after ``attempt``."""
    code = attempt.code
    if code is None:
        return [Settlement(r.id, State.DELIVERED, batch.batch_id) for r in batch.rows]
    error = _error(attempt)
    named = {r.id for r in batch.rows} & set(attempt.rejected)
    rest = [r for r in batch.rows if r.id not in attempt.accepted and r.id not in named]
    by_row = {s.row_id: s for s in _settle_rest(batch, rest, bool(named), attempt, error,
                                                  retry, rng)}
    for row in batch.rows:
        if row.id in attempt.accepted:
            by_row[row.id] = Settlement(row.id, State.DELIVERED, batch.batch_id)
        elif row.id in named:
            by_row[row.id] = Settlement(
                row.id, State.DEAD, batch.batch_id, error=_clip(attempt.rejected[row.id]),
                code=attempt.rejected_code, http_status=attempt.status,
            )
    return [by_row[r.id] for r in batch.rows]


def _settle_rest(
    batch: Batch,
    rest: Sequence[Row],
    named: bool,
    attempt: Attempt,
    error: str,
    retry: Retry,
    rng: random.Random,
) -> list[Settlement]:
    """The rows of a failed attempt that were neither taken nor refused by name."""
    code = attempt.code
    assert code is not None
    if not rest:
        return []
    if code in TRANSIENT:
        # The rows left keep the batch id only while they are the whole batch: an id never
        # names other content than its first attempt's.
        batch_id = batch.batch_id if len(rest) == len(batch.rows) else uuid.uuid4()
        return _retry_later(batch_id, rest, attempt, code, error, retry, rng)
    if named:
        return [Settlement(r.id, State.PENDING, None, refund=1) for r in rest]
    if len(rest) > 1 and attempt.status in CONTENT_STATUSES:
        return _split(rest, attempt, error)
    return [
        Settlement(r.id, State.DEAD, batch.batch_id, error=error, code=code,
                   http_status=attempt.status)
        for r in rest
    ]


def _retry_later(
    batch_id: uuid.UUID,
    rows: Sequence[Row],
    attempt: Attempt,
    code: Code,
    error: str,
    retry: Retry,
    rng: random.Random,
) -> list[Settlement]:
    """One batch, one delay for all its rows (so that it is claimed again whole); rows
    out of attempts become dead letters with the last error."""
    delay = backoff(max(r.attempts for r in rows), retry, rng)
    delay = max(delay, attempt.retry_after_s or 0.0)
    settlements = []
    for row in rows:
        if row.attempts >= retry.max_attempts:
            settlements.append(Settlement(
                row.id, State.DEAD, batch_id, code=code, http_status=attempt.status,
                error=_clip(f"gave up after {row.attempts} attempts: {error}"),
            ))
        else:
            settlements.append(Settlement(
                row.id, State.PENDING, batch_id, delay_s=delay, error=error, code=code,
                http_status=attempt.status,
            ))
    return settlements


def _split(rows: Sequence[Row], attempt: Attempt, error: str) -> list[Settlement]:
    """Two new batches, due now, the attempt not counted: bisection isolates the poison
    record in log2(n) rounds while the others go through."""
    half = len(rows) // 2
    settlements = []
    for part in (rows[:half], rows[half:]):
        batch_id = uuid.uuid4()
        settlements += [
            Settlement(r.id, State.PENDING, batch_id, refund=1, error=error,
                       code=Code.CLIENT_ERROR, http_status=attempt.status)
            for r in part
        ]
    return settlements


def _error(attempt: Attempt) -> str:
    what = f"HTTP {attempt.status}" if attempt.status is not None else str(attempt.failure)
    return _clip(f"{what}: {attempt.message}" if attempt.message else what)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
