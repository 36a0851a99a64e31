"""Customs decisions pushed to operators' callback URLs: a second channel on the same
outbox workers as targeting records (same leases, retries, dead letters and breaker).

Each operator with a callback URL has a queue ``callback:<code>``. A batch is the
operator's decisions, rendered in its own format where its adapter has a renderer
(epsilon: SOAP), else ``{"decisions": [...]}``, and signed: ``X-AEDGW-Signature:
sha256=<hex HMAC-SHA256 of the body with the operator's callback secret>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from adapters.renderers import renderer_for
from gateway.config import Target
from gateway.decisions import callback_queue, decision_to_dict
from gateway.delivery.channel import Payload
from gateway.delivery.outbox import Batch
from gateway.delivery.webhook import WebhookSender
from gateway.delivery.worker import EndpointWorker
from gateway.logging import get_logger
from gateway.store import Q, StorageUnavailable

log = get_logger(__name__)

SIGNATURE_HEADER = "X-AEDGW-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class DecisionsChannel:
    """One operator's callback rendering: its format's renderer, its secret."""

    formats: tuple[str, ...]
    secret: str | None

    async def render(self, pool: asyncpg.Pool, batch: Batch) -> Payload:
        rows = await pool.fetch(Q.decisions_by_id, [r.decision_id for r in batch.rows])
        by_id = {row["decision_id"]: decision_to_dict(row) for row in rows}
        decisions = [by_id[r.decision_id] for r in batch.rows]
        renderer = renderer_for(self.formats)
        if renderer is None:
            body = orjson.dumps({"decisions": decisions})
            headers = {"Content-Type": "application/json"}
        else:
            body = renderer.render(decisions)
            headers = {"Content-Type": renderer.media_type}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        return Payload(body, headers)

    def rejected(self, batch: Batch, answer: Any) -> dict[int, str]:
        """Operators' callbacks accept or refuse a batch whole."""
        return {}


class Callbacks:
    """Keeps one endpoint worker per operator with a callback URL, following profile
    changes (an operator added, its URL or secret changed, disabled) every ``refresh_s``."""

    def __init__(
        self, pool: asyncpg.Pool, *, refresh_s: float = 30.0, **worker_options: float
    ) -> None:
        self.pool = pool
        self.refresh_s = refresh_s
        self.worker_options = worker_options
        self._workers: dict[str, tuple[tuple[Any, ...], EndpointWorker]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._follow(), name="callbacks")

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop following profiles, then every worker (see ``EndpointWorker.stop``)."""
        self._stopping.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*(worker.stop(grace_s) for _, worker in self._workers.values()))
        self._workers.clear()

    async def refresh(self) -> None:
        """Start, restart or stop workers so that they match the operators' profiles."""
        wanted = {
            row["code"]: (row["callback_url"], row["callback_secret"], tuple(row["formats"]))
            for row in await self.pool.fetch(Q.callback_profiles)
        }
        for code in list(self._workers):
            settings, worker = self._workers[code]
            if wanted.get(code) != settings:
                del self._workers[code]
                await worker.stop()
        for code, settings in wanted.items():
            if code not in self._workers:
                url, secret, operator_formats = settings
                target = Target(name=callback_queue(code), url=url)
                sender = WebhookSender(target, DecisionsChannel(operator_formats, secret))
                worker = EndpointWorker(self.pool, target, sender, **self.worker_options)
                await worker.start()
                self._workers[code] = (settings, worker)

    async def _follow(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except (*StorageUnavailable, asyncpg.PostgresError) as exc:
                log.warning("callbacks_refresh_failed", error=type(exc).__name__)
