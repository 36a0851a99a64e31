"""One LISTEN connection per process, handing NOTIFY payloads to in-process callbacks.

Never LISTEN on a pooled connection: asyncpg runs ``UNLISTEN *`` when one goes back to
the pool. If the connection drops, the listener reconnects and then calls every callback
with ``None``: anything notified before it listened again may have been missed (a key
revoked during the gap, say), and it is only safe to say so once it listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg

from gateway.logging import get_logger

log = get_logger(__name__)

Callback = Callable[[str | None], None]


class Listener:
    def __init__(self, url: str) -> None:
        self._url = url
        self._callbacks: dict[str, list[Callback]] = {}
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    @property
    def connected(self) -> bool:
        """Listening now: no NOTIFY is being missed."""
        return self._conn is not None and not self._lost.is_set()

    def subscribe(self, channel: str, callback: Callback) -> None:
        self._callbacks.setdefault(channel, []).append(callback)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._watch(), name="notify-listener")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn and not self._conn.is_closed():
            await self._conn.close()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._url)
        try:
            for channel in self._callbacks:
                await conn.add_listener(channel, self._dispatch)
        except BaseException:
            await conn.close()
            raise
        conn.add_termination_listener(lambda _conn: self._lost.set())
        self._conn = conn
        self._lost.clear()

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        for callback in self._callbacks.get(channel, ()):
            callback(payload)

    async def _watch(self) -> None:
        """Reconnect after a loss, then tell every subscriber it may have missed events."""
        while True:
            await self._lost.wait()
            log.warning("notify_connection_lost")
            while True:
                try:
                    await self._connect()
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await asyncio.sleep(1.0)
            log.info("notify_connection_restored")
            for callbacks in self._callbacks.values():
                for callback in callbacks:
                    callback(None)
