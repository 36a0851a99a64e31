"""The delivery loop: per endpoint, ``concurrency`` tasks claim a leased batch, send it
(an HTTP POST or a JetStream publish: see ``sender``), and settle it; a housekeeping
task reaps expired leases and refreshes the gauges.

Nothing is kept in memory between batches: a stopped or crashed worker leaves only rows
whose leases expire, and the next worker (in this process or another) takes them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

import asyncpg

from gateway import overview
from gateway.config import Target
from gateway.delivery import outbox
from gateway.delivery.circuit import Circuit, CircuitState, Permit
from gateway.delivery.jetstream import JetStreamSender
from gateway.delivery.outbox import Batch, Settlement, State
from gateway.delivery.policy import Code, plan
from gateway.delivery.records import RecordsChannel
from gateway.delivery.sender import Sender
from gateway.delivery.webhook import WebhookSender
from gateway.logging import get_logger
from gateway.metrics import (
    CIRCUIT_STATE,
    DEAD_LETTERS,
    DELIVERED_RECORDS,
    DELIVERY_ATTEMPTS,
    DELIVERY_SECONDS,
    OUTBOX_DEPTH,
    OUTBOX_OLDEST_SECONDS,
)
from gateway.store import StorageUnavailable

log = get_logger(__name__)

LEASE_MARGIN_S = 5.0
"""How much longer a lease lasts than the longest send."""

class EndpointWorker:
    """Pushes one endpoint's queue; its tasks share a sender and a breaker."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        endpoint: Target,
        sender: Sender,
        *,
        poll_s: float = 1.0,
        housekeeping_s: float = 5.0,
        lease_margin_s: float = LEASE_MARGIN_S,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.endpoint = endpoint
        self.sender = sender
        self.poll_s = poll_s
        self.housekeeping_s = housekeeping_s
        self.lease = timedelta(seconds=sender.send_s + lease_margin_s)
        self.circuit = Circuit(
            endpoint.name,
            endpoint.circuit_failures,
            endpoint.circuit_cooldown_s,
            on_change=lambda state: CIRCUIT_STATE.labels(endpoint.name).set(state),
        )
        self._rng = rng or random.Random()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsettled: dict[uuid.UUID, Batch] = {}
        """Batches claimed and not yet settled, by lease: what a stop hands back."""

    async def start(self) -> None:
        name = self.endpoint.name
        CIRCUIT_STATE.labels(name).set(CircuitState.CLOSED)
        await self.sender.open()
        self._tasks = [
            asyncio.create_task(self._deliver_loop(), name=f"deliver-{name}-{i}")
            for i in range(self.endpoint.concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._housekeeping(), name=f"outbox-{name}"))
        log.info("delivery_started", target=name, concurrency=self.endpoint.concurrency)

    async def stop(self, grace_s: float | None = None) -> None:
        """Let in-flight sends finish (up to ``grace_s``), then cancel them and hand their
        batches back to the queue, due now, so that another process sends them at once
        instead of waiting for the lease to expire."""
        self._stopping.set()
        grace = self.sender.send_s + 1 if grace_s is None else grace_s
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._release_unsettled()
        await self.sender.close()
        log.info("delivery_stopped", target=self.endpoint.name)

    async def _release_unsettled(self) -> None:
        """Back to the queue: same batch (the receiver may have taken it, so the retry
        keeps its Idempotency-Key), due now, the cut-off attempt not counted."""
        for batch in list(self._unsettled.values()):
            back = [
                Settlement(row.id, State.PENDING, batch.batch_id, refund=1) for row in batch.rows
            ]
            try:
                released = await outbox.settle(self.pool, batch, back)
            except (*StorageUnavailable, asyncpg.PostgresError) as exc:
                log.warning("delivery_release_failed", target=self.endpoint.name,
                            error=type(exc).__name__, batch_id=str(batch.batch_id))
                continue
            log.info("delivery_released", target=self.endpoint.name, rows=len(released),
                     batch_id=str(batch.batch_id))
        self._unsettled.clear()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _deliver_loop(self) -> None:
        while not self._stopping.is_set():
            permit = self.circuit.acquire()
            if permit is None:
                await self._pause(self.circuit.wait_s())
                continue
            ok: bool | None = None
            try:
                limit = 1 if permit is Permit.PROBE else self.endpoint.batch_size
                batch = await outbox.claim(self.pool, self.endpoint.name, limit, self.lease)
                if batch is not None:
                    self._unsettled[batch.lease_id] = batch
                    ok = await self._deliver(batch)
                    del self._unsettled[batch.lease_id]
            except (*StorageUnavailable, asyncpg.PostgresError) as exc:
                log.warning("delivery_storage_error", target=self.endpoint.name,
                            error=type(exc).__name__)
                batch = None
            except Exception:  # the batch stays leased until it expires; the loop lives on
                log.exception("delivery_error", target=self.endpoint.name)
                batch = None
            finally:
                self.circuit.release(permit, ok)
            if batch is None:
                await self._pause(self.poll_s)

    async def _deliver(self, batch: Batch) -> bool:
        """Send one batch and settle it; False when the endpoint failed (for the breaker)."""
        name = self.endpoint.name
        started = time.perf_counter()
        attempt = await self.sender.send(self.pool, batch)
        DELIVERY_SECONDS.labels(name).observe(time.perf_counter() - started)
        DELIVERY_ATTEMPTS.labels(name, attempt.code or "delivered").inc()
        if attempt.code is Code.THROTTLED and attempt.retry_after_s:
            self.circuit.hold(attempt.retry_after_s)
        settled = await outbox.settle(
            self.pool, batch, plan(batch, attempt, self.endpoint.retry, self._rng)
        )
        self._count(settled)
        if attempt.code is not None:
            log.warning(
                "delivery_failed", target=name, code=attempt.code, http_status=attempt.status,
                rows=len(batch.rows), attempts=max(r.attempts for r in batch.rows),
                batch_id=str(batch.batch_id),
            )
        return not attempt.transient

    def _count(self, settled: Sequence[outbox.Settled]) -> None:
        name = self.endpoint.name
        delivered = sum(1 for s in settled if s.state is State.DELIVERED)
        if delivered:
            DELIVERED_RECORDS.labels(name).inc(delivered)
        dead = [s for s in settled if s.state is State.DEAD]
        for s in dead:
            DEAD_LETTERS.labels(name, s.code or "unknown").inc()
        if dead:
            log.warning("dead_letters", target=name, rows=len(dead), code=dead[0].code)

    async def _housekeeping(self) -> None:
        """Reap expired leases of this queue and refresh its gauges, until stopped."""
        name = self.endpoint.name
        while not self._stopping.is_set():
            try:
                self._count(await outbox.reap(self.pool, name, self.endpoint.retry.max_attempts))
                depth = await outbox.depth(self.pool, name)
                await overview.report_circuit(self.pool, name, self.circuit.state)
            except (*StorageUnavailable, asyncpg.PostgresError) as exc:
                log.warning("outbox_housekeeping_failed", target=name, error=type(exc).__name__)
            except Exception:
                log.exception("outbox_housekeeping_error", target=name)
            else:
                for state in (State.PENDING, State.IN_FLIGHT, State.DEAD):
                    OUTBOX_DEPTH.labels(name, state.value).set(depth.rows.get(state, 0))
                waiting = [depth.oldest_s.get(s, 0.0) for s in (State.PENDING, State.IN_FLIGHT)]
                OUTBOX_OLDEST_SECONDS.labels(name).set(max(waiting))
            await self._pause(self.housekeeping_s)


class Delivery:
    """Every endpoint worker of a process, started and stopped together."""

    def __init__(self, workers: Sequence[EndpointWorker]) -> None:
        self.workers = list(workers)

    @classmethod
    def for_targets(
        cls, pool: asyncpg.Pool, targets: Sequence[Target], **options: float
    ) -> Delivery:
        """Targeting records to every target that pushes from this process."""
        channel = RecordsChannel()
        workers = []
        for target in targets:
            if target.concurrency > 0:
                if target.kind == "nats":
                    assert target.subject and target.stream  # Target checks it
                    margin = options.get("lease_margin_s", LEASE_MARGIN_S)
                    sender: Sender = JetStreamSender(
                        target.name, target.url, target.subject, target.stream,
                        timeout_s=target.timeout_s,
                        resend_gap_s=margin + target.retry.max_delay_s
                        + target.circuit_cooldown_s,
                    )
                else:
                    sender = WebhookSender(target, channel)
                workers.append(EndpointWorker(pool, target, sender, **options))
        return cls(workers)

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()

    async def stop(self, grace_s: float | None = None) -> None:
        await asyncio.gather(*(w.stop(grace_s) for w in self.workers))
