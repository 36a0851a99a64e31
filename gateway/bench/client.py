"""The load generator's HTTP/1.1 client: keep-alive connections over asyncio streams.

A general client (aiohttp's) spends more CPU per request than the gateway's fastest
path, and on a shared 2-core machine that would be measured as the gateway's slowness.
Requests are built once as bytes; each connection carries one exchange at a time and
httptools (llhttp, the parser of Node.js) reads the answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

import httptools


def request(
    method: str, path: str, host: str, headers: Mapping[str, str], body: bytes = b""
) -> bytes:
    """One HTTP/1.1 request as bytes, ready to write on any connection to ``host``."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Exchange(asyncio.Protocol):
    """One connection: write a request, wait for its complete answer."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status, body = self.parser.get_status_code(), b"".join(self.body)
        self.body.clear()
        if self.answer is not None and not self.answer.done():
            self.answer.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionError("the gateway closed the connection"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.answer


class Client:
    """Up to ``connections`` keep-alive connections to one server; a request waits for
    a free one (that wait is part of its latency)."""

    def __init__(self, host: str, port: int, connections: int) -> None:
        self.host, self.port = host, port
        self.free: asyncio.LifoQueue[_Exchange] = asyncio.LifoQueue()
        self.slots = asyncio.Semaphore(connections)
        self.open: list[_Exchange] = []

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        async with self.slots:
            conn = self._idle() or await self._connect()
            try:
                answer = await conn.exchange(raw)
            except BaseException:
                conn.close()
                raise
            if not conn.closed:
                self.free.put_nowait(conn)
            return answer

    def _idle(self) -> _Exchange | None:
        """A kept-alive connection the server has not closed meanwhile, if any."""
        while not self.free.empty():
            conn = self.free.get_nowait()
            if not conn.closed:
                return conn
        return None

    async def _connect(self) -> _Exchange:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Exchange, self.host, self.port)
        self.open.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.open:
            conn.close()


@dataclass
class Answers:
    """What a run of requests got back: status, latency and body of each."""

    statuses: list[int] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    seconds: float = 0.0
    lags_s: list[float] = field(default_factory=list)
    """Open loop: how late each request left against its schedule (the generator's own
    delay; large values mean the machine, not the gateway, held it back)."""


async def closed_loop(client: Client, requests: Iterable[bytes], in_flight: int) -> Answers:
    """Send every request, ``in_flight`` at a time, as fast as the server answers."""
    answers, pending = Answers(), iter(requests)

    async def sender() -> None:
        for raw in pending:
            started = time.perf_counter()
            status, body = await client.send(raw)
            answers.latencies_s.append(time.perf_counter() - started)
            answers.statuses.append(status)
            answers.bodies.append(body)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(in_flight)))
    answers.seconds = time.perf_counter() - started
    return answers


async def open_loop(client: Client, requests: list[bytes], rate: float) -> Answers:
    """Send request i at start + i / rate whatever the answers so far, and time each from
    that scheduled moment: a slow answer cannot hold back the next sends (no coordinated
    omission), and waiting for a connection counts as latency. (perf_counter, not the
    loop's clock: uvloop's ticks in whole milliseconds.)"""
    answers = Answers()
    start = time.perf_counter() + 0.01

    async def one(at: float, raw: bytes) -> None:
        answers.lags_s.append(time.perf_counter() - at)
        try:
            status, body = await client.send(raw)
        except OSError:  # a refused or dropped connection is a failed answer, not a crash
            status, body = 0, b""
        answers.latencies_s.append(time.perf_counter() - at)
        answers.statuses.append(status)
        answers.bodies.append(body)

    tasks = []
    for i, raw in enumerate(requests):
        at = start + i / rate
        if (delay := at - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at, raw)))
    await asyncio.gather(*tasks)
    answers.seconds = time.perf_counter() - start
    return answers
