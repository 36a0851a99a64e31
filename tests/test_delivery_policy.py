"""The delivery decisions without a network or a database: failure classes, backoff,
Retry-After, what each answer does to a batch's rows, the breaker, the replay budget."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest

from gateway.config import Retry, Target
from gateway.delivery.circuit import Circuit, CircuitState, Permit
from gateway.delivery.deadletters import Filters
from gateway.delivery.outbox import Batch, Row, State
from gateway.delivery.pacing import RowBudget
from gateway.delivery.policy import Attempt, Code, backoff, classify, parse_retry_after, plan

RETRY = Retry(max_attempts=3, base_delay_s=1.0, max_delay_s=10.0)


def batch(*attempts: int) -> Batch:
    rows = tuple(
        Row(i + 1, "alpha", f"CP{i}", uuid.uuid4(), 1, a) for i, a in enumerate(attempts)
    )
    return Batch("cbp", uuid.uuid4(), uuid.uuid4(), rows)


@pytest.mark.parametrize(
    ("status", "code"),
    [(200, None), (204, None), (429, Code.THROTTLED), (500, Code.SERVER_ERROR),
     (503, Code.SERVER_ERROR), (408, Code.SERVER_ERROR), (400, Code.CLIENT_ERROR),
     (401, Code.CLIENT_ERROR), (422, Code.CLIENT_ERROR), (302, Code.CLIENT_ERROR)],
)
def test_classify(status: int, code: Code | None) -> None:
    assert classify(status) == code


def test_backoff_is_full_jitter_under_a_capped_exponential() -> None:
    rng = random.Random(1)
    for attempts, cap in ((1, 1.0), (2, 2.0), (4, 8.0), (5, 10.0), (30, 10.0)):
        delays = [backoff(attempts, RETRY, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8 and min(delays) < cap * 0.2


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("999999") == 3600.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_success_delivers_every_row() -> None:
    b = batch(1, 1)
    settled = plan(b, Attempt(status=200), RETRY, random.Random(0))
    assert [s.state for s in settled] == [State.DELIVERED] * 2


def test_transient_failure_retries_the_same_batch_with_one_delay() -> None:
    b = batch(1, 1, 1)
    settled = plan(b, Attempt(status=503, message="down"), RETRY, random.Random(0))
    assert {s.state for s in settled} == {State.PENDING}
    assert {s.batch_id for s in settled} == {b.batch_id}
    assert len({s.delay_s for s in settled}) == 1
    assert settled[0].code == Code.SERVER_ERROR and settled[0].http_status == 503
    assert settled[0].error == "HTTP 503: down"


def test_throttle_waits_at_least_retry_after() -> None:
    settled = plan(batch(1), Attempt(status=429, retry_after_s=42), RETRY, random.Random(0))
    assert settled[0].delay_s == 42 and settled[0].code == Code.THROTTLED


def test_exhausted_rows_are_dead_with_the_last_error() -> None:
    b = batch(3, 2)
    settled = plan(b, Attempt(failure=Code.TIMEOUT, message="no answer"), RETRY,
                   random.Random(0))
    assert [s.state for s in settled] == [State.DEAD, State.PENDING]
    assert settled[0].code == Code.TIMEOUT
    assert settled[0].error == "gave up after 3 attempts: timeout: no answer"


def test_named_rejections_are_dead_and_the_rest_go_again_fresh() -> None:
    b = batch(1, 1, 1)
    attempt = Attempt(status=422, rejected={2: "bad hs code"})
    settled = plan(b, attempt, RETRY, random.Random(0))
    assert [s.state for s in settled] == [State.PENDING, State.DEAD, State.PENDING]
    assert settled[1].code == Code.REJECTED and settled[1].error == "bad hs code"
    assert settled[0].batch_id is None and settled[0].refund == 1


def test_a_stream_settles_each_row_on_its_own_ack() -> None:
    """JetStream acks each message: acked rows are delivered, a record over the limit is
    dead at once, and the rest go again under a new batch id after one delay."""
    b = batch(1, 1, 1, 1)
    attempt = Attempt(failure=Code.TIMEOUT, message="no ack", accepted=frozenset({1, 3}),
                      rejected={4: "too big"}, rejected_code=Code.TOO_LARGE)
    settled = plan(b, attempt, RETRY, random.Random(0))
    assert [s.state for s in settled] == [
        State.DELIVERED, State.PENDING, State.DELIVERED, State.DEAD]
    assert settled[0].batch_id == b.batch_id
    assert settled[1].batch_id not in (None, b.batch_id), "other content, another id"
    assert settled[1].delay_s > 0 and settled[1].code == Code.TIMEOUT
    assert (settled[3].code, settled[3].error) == (Code.TOO_LARGE, "too big")
    assert attempt.transient


def test_only_refusals_by_name_leave_the_others_delivered() -> None:
    b = batch(1, 1)
    attempt = Attempt(failure=Code.TOO_LARGE, accepted=frozenset({1}), rejected={2: "big"},
                      rejected_code=Code.TOO_LARGE)
    settled = plan(b, attempt, RETRY, random.Random(0))
    assert [s.state for s in settled] == [State.DELIVERED, State.DEAD]
    assert not attempt.transient, "a refused record says nothing of the endpoint's health"


def test_an_unnamed_content_refusal_splits_the_batch() -> None:
    b = batch(1, 1, 1, 1, 1)
    settled = plan(b, Attempt(status=400), RETRY, random.Random(0))
    assert {s.state for s in settled} == {State.PENDING}
    halves = [s.batch_id for s in settled]
    assert halves[0] == halves[1] != halves[2] == halves[3] == halves[4]
    assert b.batch_id not in halves
    assert all(s.refund == 1 and s.delay_s == 0 for s in settled)


def test_a_refused_single_record_and_endpoint_refusals_are_dead() -> None:
    assert plan(batch(1), Attempt(status=422), RETRY, random.Random(0))[0].state == State.DEAD
    settled = plan(batch(1, 1), Attempt(status=403), RETRY, random.Random(0))
    assert [s.state for s in settled] == [State.DEAD, State.DEAD]
    assert settled[0].code == Code.CLIENT_ERROR


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_circuit_opens_probes_and_closes() -> None:
    clock = Clock()
    changes: list[CircuitState] = []
    circuit = Circuit("cbp", 3, 10.0, clock=clock, on_change=changes.append)
    for _ in range(2):
        circuit.release(circuit.acquire(), ok=False)
    assert circuit.state is CircuitState.CLOSED
    circuit.release(circuit.acquire(), ok=False)
    assert circuit.state is CircuitState.OPEN and circuit.acquire() is None
    assert circuit.wait_s() == 10.0
    clock.now = 10.0
    probe = circuit.acquire()
    assert probe is Permit.PROBE and circuit.state is CircuitState.HALF_OPEN
    assert circuit.acquire() is None, "one probe at a time"
    circuit.release(probe, ok=False)
    assert circuit.state is CircuitState.OPEN
    clock.now = 20.0
    probe = circuit.acquire()
    circuit.release(probe, ok=None)  # nothing to send: still half-open, may probe again
    probe = circuit.acquire()
    assert probe is Permit.PROBE
    circuit.release(probe, ok=True)
    assert circuit.state is CircuitState.CLOSED and circuit.acquire() is Permit.FULL
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.OPEN,
                       CircuitState.HALF_OPEN, CircuitState.CLOSED]


def test_circuit_holds_for_retry_after() -> None:
    clock = Clock()
    circuit = Circuit("cbp", 3, 10.0, clock=clock)
    circuit.hold(5.0)
    assert circuit.acquire() is None and circuit.wait_s() == 5.0
    clock.now = 5.0
    assert circuit.acquire() is Permit.FULL


def test_replay_budget_is_a_token_bucket() -> None:
    clock = Clock()
    budget = RowBudget(10.0, 20.0, clock=clock)
    assert budget.available() == 20
    budget.spend(20)
    assert budget.available() == 0 and budget.wait_s() == pytest.approx(0.1)
    clock.now = 1.0
    assert budget.available() == 10
    clock.now = 100.0
    assert budget.available() == 20, "never more than the burst"


def test_filters_parse() -> None:
    f = Filters.parse({"target": "cbp", "since": "2026-11-28T10:00:00", "until": "",
                       "code": "rejected"})
    assert f == Filters("cbp", None, datetime(2026, 11, 28, 10, tzinfo=UTC), None, "rejected")
    with pytest.raises(ValueError, match="since"):
        Filters.parse({"since": "yesterday"})


@pytest.mark.parametrize(
    ("value", "headers"),
    [(None, {}), ("Bearer abc", {"Authorization": "Bearer abc"}),
     ("X-Api-Key: s3cret", {"X-Api-Key": "s3cret"})],
)
def test_auth_header_setting(value: str | None, headers: dict[str, str]) -> None:
    assert Target(name="t", url="http://t", auth_header=value).headers == headers
