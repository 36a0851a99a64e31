"""The JetStream sender: one message per record revision, published to a stream.

Every message carries ``Nats-Msg-Id: <record_id>:<revision>``, and JetStream stores a
message id once within the stream's duplicate window, so a batch sent again after a lost
acknowledgement (a timeout, a worker that died between the ack and the settlement) is
stored once. A stream the gateway creates gets a window of at least the lease plus the
longest backoff (and the breaker's cooldown): the longest a resend can follow the first
publish. Beyond it (a dead letter replayed days later, a stream made by hand with a
shorter window) consumers dedupe on (record_id, revision), as webhook receivers do.

A row is delivered only once its publish is acknowledged. No acknowledgement within the
timeout, "no responders" (no stream on the subject, JetStream down) or a lost connection
is transient; a record over the server's ``max_payload`` is a dead letter at once.
"""

from __future__ import annotations

import asyncio

import asyncpg
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway.config import SUBJECT_FIELDS
from gateway.delivery.outbox import Batch, Row
from gateway.delivery.policy import Attempt, Code
from gateway.delivery.records import bodies
from gateway.logging import get_logger

log = get_logger(__name__)

MESSAGE_TOO_LARGE = 10054
"""JetStream's error code for a message over the stream's ``max_msg_size``."""
NO_RESPONDERS = "no responders: no stream takes the subject, or JetStream is down"
_NO_DESTINATION = "none"


def subject_of(template: str, row: Row) -> str:
    return template.format(operator=row.operator, destination=row.destination or _NO_DESTINATION)


def stream_subject(template: str) -> str:
    """The subject filter of a stream made for ``template``: each field a wildcard."""
    return template.format(**dict.fromkeys(SUBJECT_FIELDS, "*"))


def message_id(row: Row) -> str:
    return f"{row.record_id}:{row.revision}"


class JetStreamSender:
    """Publishes each record of a batch to ``subject`` and waits for the acks."""

    def __init__(
        self,
        name: str,
        url: str,
        subject: str,
        stream: str,
        *,
        timeout_s: float,
        resend_gap_s: float,
    ) -> None:
        """``resend_gap_s``: the longest a row can wait, beyond its send, before it is
        sent again (the lease's margin, the longest backoff, the breaker's cooldown)."""
        self.name = name
        self.url = url
        self.subject = subject
        self.stream = stream
        self.timeout_s = timeout_s
        # Connecting and finding the stream take at most one timeout, the acks another.
        self.send_s = 2 * timeout_s
        self.duplicate_window_s = self.send_s + resend_gap_s
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False
        self._connecting = asyncio.Lock()

    async def open(self) -> None:
        """Nothing yet: the first send connects, so a server that is down at start is a
        transient failure of that send (with its backoff), not of the gateway's start."""

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc = self._js = None

    async def send(self, pool: asyncpg.Pool, batch: Batch) -> Attempt:
        try:
            async with asyncio.timeout(self.timeout_s):
                nc, js = await self._connection()
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            await self.close()
            return Attempt(failure=Code.CONNECTION, message=_describe(exc))
        return await self._publish(nc, js, batch)

    async def _connection(self) -> tuple[Client, JetStreamContext]:
        """A live connection and its JetStream context, connecting (and making sure the
        stream exists) when there is none. The other task of the target may close it
        while this one publishes: its publishes then fail as a lost connection would."""
        async with self._connecting:
            if self._nc is None or self._nc.is_closed or self._js is None:
                self._nc = await nats.connect(
                    self.url,
                    name=f"aedgw {self.name}",
                    connect_timeout=self.timeout_s,
                    # One try; a lost connection closes the client and the next send
                    # connects again, on the durable schedule of the rows.
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.1,
                    error_cb=self._on_error,
                )
                self._js = self._nc.jetstream(timeout=self.timeout_s)
                self._stream_ready = False
            if not self._stream_ready:
                await self._ensure_stream(self._js)
                self._stream_ready = True
            return self._nc, self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream when it does not exist; warn when one made elsewhere keeps
        message ids for less time than a resend may take."""
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            try:
                await js.add_stream(
                    name=self.stream,
                    subjects=[stream_subject(self.subject)],
                    duplicate_window=self.duplicate_window_s,
                )
                log.info("nats_stream_created", target=self.name, stream=self.stream,
                         duplicate_window_s=self.duplicate_window_s)
                return
            except nats.js.errors.BadRequestError:
                info = await js.stream_info(self.stream)  # another process made it first
        window = info.config.duplicate_window or 0
        if window < self.duplicate_window_s:
            log.warning("nats_duplicate_window_short", target=self.name, stream=self.stream,
                        duplicate_window_s=window, needed_s=self.duplicate_window_s)

    async def _publish(self, nc: Client, js: JetStreamContext, batch: Batch) -> Attempt:
        """Publish every record, then wait (one timeout for all) for the acks."""
        acks: dict[int, asyncio.Future] = {}
        rejected: dict[int, str] = {}
        failures: list[tuple[Code, str]] = []
        for row, body in zip(batch.rows, bodies(batch), strict=True):
            try:
                acks[row.id] = await js.publish_async(
                    subject_of(self.subject, row), body, stream=self.stream,
                    headers={"Nats-Msg-Id": message_id(row)},
                )
            except nats.errors.MaxPayloadError:
                rejected[row.id] = (f"the record is {len(body)} bytes, over the NATS "
                                    f"server's max_payload of {nc.max_payload}")
            except (OSError, nats.errors.Error) as exc:
                failures.append((Code.CONNECTION, _describe(exc)))
                break
        if acks:
            _, late = await asyncio.wait(acks.values(), timeout=self.timeout_s)
            for future in late:
                future.cancel()  # frees its slot among the context's pending publishes
        accepted = set()
        for row_id, future in acks.items():
            outcome = _outcome(future, self.timeout_s)
            if outcome is None:
                accepted.add(row_id)
            elif outcome[0] is Code.TOO_LARGE:
                rejected[row_id] = outcome[1]
            else:
                failures.append(outcome)
        if not nc.is_connected and nc is self._nc:
            await self.close()  # the next send connects again
        if any(message == NO_RESPONDERS for _, message in failures):
            self._stream_ready = False  # deleted under us, perhaps: look for it again
        if not failures and not rejected:
            return Attempt()
        code, message = failures[0] if failures else (Code.TOO_LARGE, "")
        return Attempt(failure=code, message=message, rejected=rejected,
                       rejected_code=Code.TOO_LARGE, accepted=frozenset(accepted))

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats_error", target=self.name, error=_describe(exc))


def _outcome(future: asyncio.Future, timeout_s: float) -> tuple[Code, str] | None:
    """None for an acknowledged publish, else its failure class and a message."""
    if future.cancelled():
        return Code.TIMEOUT, f"no acknowledgement within {timeout_s} s"
    exc = future.exception()
    if exc is None:
        return None
    if isinstance(exc, nats.js.errors.APIError) and exc.err_code == MESSAGE_TOO_LARGE:
        return Code.TOO_LARGE, f"the stream refused the record: {exc.description}"
    if isinstance(exc, nats.js.errors.NoStreamResponseError):
        return Code.SERVER_ERROR, NO_RESPONDERS
    return Code.SERVER_ERROR, _describe(exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
