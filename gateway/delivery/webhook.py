"""The HTTP sender: one POST per batch, its answer turned into an ``Attempt``.

The status classes (what is transient, what is about the content) are the policy's;
this module only speaks HTTP: a kept-alive connection reset under a POST is tried once
more at once, every other failure goes back to the durable schedule in the row.
"""

from __future__ import annotations

import asyncio
import gzip

import aiohttp
import asyncpg
import orjson
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_fixed

from gateway.config import Target
from gateway.delivery.channel import Channel, Payload
from gateway.delivery.outbox import Batch
from gateway.delivery.policy import Attempt, Code, classify, parse_retry_after

POST_TRIES = 2
"""In-process tries of one POST: a second only when a kept-alive connection was reset
under it. Every other failure goes back to the durable schedule in the row."""
GZIP_LEVEL = 1
"""Fastest: canonical JSON compresses about tenfold even so."""
MAX_ANSWER_BYTES = 64 * 1024
"""Enough of an error answer to read a rejected list and keep a message."""


def _reset(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError) and not (
        isinstance(exc, aiohttp.ClientConnectorError)
    )


class WebhookSender:
    """POSTs a channel's rendering of each batch to the endpoint's URL."""

    def __init__(self, endpoint: Target, channel: Channel) -> None:
        self.endpoint = endpoint
        self.channel = channel
        self.send_s = endpoint.timeout_s * POST_TRIES
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=max(self.endpoint.concurrency, 1), ssl=self.endpoint.ssl_context() or True
            ),
            timeout=aiohttp.ClientTimeout(total=self.endpoint.timeout_s),
        )

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    async def send(self, pool: asyncpg.Pool, batch: Batch) -> Attempt:
        payload = await self.channel.render(pool, batch)
        if self.endpoint.gzip:
            # zlib lets go of the GIL: compressing in a thread overlaps the other batch.
            body = await asyncio.to_thread(gzip.compress, payload.body, GZIP_LEVEL)
            payload = Payload(body, {**payload.headers, "Content-Encoding": "gzip"})
        return await self._post(payload, batch)

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
        refusal = classify(response.status) is Code.CLIENT_ERROR
        return Attempt(
            status=response.status,
            message=raw.decode("utf-8", "replace").strip(),
            retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
            rejected=self.channel.rejected(batch, answer) if refusal else {},
        )
