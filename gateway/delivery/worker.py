"""The delivery loop: per endpoint, ``concurrency`` tasks claim a leased batch, POST it,
and settle it; a housekeeping task reaps expired leases and refreshes the gauges.

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

import aiohttp
import asyncpg
import orjson
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_fixed

from gateway import overview
from gateway.config import Target
from gateway.delivery import outbox
from gateway.delivery.channel import Channel, Payload
from gateway.delivery.circuit import Circuit, CircuitState, Permit
from gateway.delivery.outbox import Batch, Settlement, State
from gateway.delivery.policy import Attempt, Code, parse_retry_after, plan
from gateway.delivery.records import RecordsChannel
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

POST_TRIES = 2
"""In-process tries of one POST: a second only when a kept-alive connection was reset
under it. Every other failure goes back to the durable schedule in the row."""
MAX_ANSWER_BYTES = 64 * 1024
"""Enough of an error answer to read a rejected list and keep a message."""


def _reset(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError) and not (
        isinstance(exc, aiohttp.ClientConnectorError)
    )


class EndpointWorker:
    """Pushes one endpoint's queue; its tasks share an HTTP session and a breaker."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        endpoint: Target,
        channel: Channel,
        *,
        poll_s: float = 1.0,
        housekeeping_s: float = 5.0,
        lease_margin_s: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.endpoint = endpoint
        self.channel = channel
        self.poll_s = poll_s
        self.housekeeping_s = housekeeping_s
        # A lease outlives every try of the POST, so no other worker can claim a row
        # while this one may still be sending it.
        self.lease = timedelta(seconds=endpoint.timeout_s * POST_TRIES + lease_margin_s)
        self.circuit = Circuit(
            endpoint.name,
            endpoint.circuit_failures,
            endpoint.circuit_cooldown_s,
            on_change=lambda state: CIRCUIT_STATE.labels(endpoint.name).set(state),
        )
        self._rng = rng or random.Random()
        self._stopping = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsettled: dict[uuid.UUID, Batch] = {}
        """Batches claimed and not yet settled, by lease: what a stop hands back."""

    async def start(self) -> None:
        name = self.endpoint.name
        CIRCUIT_STATE.labels(name).set(CircuitState.CLOSED)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=max(self.endpoint.concurrency, 1), ssl=self.endpoint.ssl_context() or True
            ),
            timeout=aiohttp.ClientTimeout(total=self.endpoint.timeout_s),
        )
        self._tasks = [
            asyncio.create_task(self._deliver_loop(), name=f"deliver-{name}-{i}")
            for i in range(self.endpoint.concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._housekeeping(), name=f"outbox-{name}"))
        log.info("delivery_started", target=name, concurrency=self.endpoint.concurrency)

    async def stop(self, grace_s: float | None = None) -> None:
        """Let in-flight POSTs finish (up to ``grace_s``), then cancel them and hand their
        batches back to the queue, due now, so that another process sends them at once
        instead of waiting for the lease to expire."""
        self._stopping.set()
        grace = self.endpoint.timeout_s * POST_TRIES + 1 if grace_s is None else grace_s
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._release_unsettled()
        if self._session:
            await self._session.close()
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
        """POST one batch and settle it; False when the endpoint failed (for the breaker)."""
        name = self.endpoint.name
        payload = await self.channel.render(self.pool, batch)
        started = time.perf_counter()
        attempt = await self._post(payload, batch)
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

    async def _post(self, payload: Payload, batch: Batch) -> Attempt:
        assert self._session is not None
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": str(batch.batch_id),
            **self.endpoint.headers,
            **payload.headers,
        }
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(POST_TRIES), wait=wait_fixed(0.05),
                retry=retry_if_exception(_reset), reraise=True,
            ):
                with attempt:
                    async with self._session.post(
                        self.endpoint.url, data=payload.body, headers=headers,
                        allow_redirects=False,
                    ) as response:
                        return await self._answer(response, batch)
        except TimeoutError:
            timeout = self.endpoint.timeout_s
            return Attempt(failure=Code.TIMEOUT, message=f"no answer within {timeout} s")
        except (aiohttp.ClientError, OSError) as exc:
            return Attempt(failure=Code.CONNECTION, message=f"{type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    async def _answer(self, response: aiohttp.ClientResponse, batch: Batch) -> Attempt:
        if 200 <= response.status < 300:
            await response.read()
            return Attempt(status=response.status)
        raw = await response.content.read(MAX_ANSWER_BYTES)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            answer = None
        return Attempt(
            status=response.status,
            message=raw.decode("utf-8", "replace").strip(),
            retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
            rejected=self.channel.rejected(batch, answer) if 400 <= response.status < 500 else {},
        )

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
        return cls([
            EndpointWorker(pool, t, channel, **options)
            for t in targets
            if t.concurrency > 0
        ])

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()

    async def stop(self, grace_s: float | None = None) -> None:
        await asyncio.gather(*(w.stop(grace_s) for w in self.workers))
