"""Group commit: concurrent messages share one transaction.

A writer collects the jobs that arrive within a short window (or until a number of items
is reached), runs them together, and answers each caller only after that run returns
(for the store: after its commit). When a run fails, its jobs run again one by one, so
that one bad job fails alone. No task outlives a group: the first job of a group starts
its timer, and each group runs in a task of its own (a caller that goes away does not
cancel the others' commit), so there is nothing to start or stop with the application.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")

Run = Callable[[Sequence[J]], Awaitable[Sequence[R | BaseException]]]
"""Runs a group: a result per job, or the exception that job alone ends with."""


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """How long the first job of a group waits for others, how many items (summed over
    its jobs) close a group at once, and how many groups may run at the same time. Of
    those, one at most is not full: small jobs arriving while it runs wait for it and
    make the next group larger (a group costs the database about as much as several
    single-item messages), while full groups, a large message each, still overlap."""

    window_s: float = 0.002
    max_items: int = 1000
    concurrency: int = 4


class GroupWriter(Generic[J, R]):
    """Runs jobs in groups with ``run``; ``alone(exc)`` says whether a failed group's jobs
    are worth running one by one (not when the database is unreachable, say)."""

    def __init__(
        self,
        run: Run[J, R],
        settings: GroupSettings,
        alone: Callable[[BaseException], bool],
    ) -> None:
        self.run = run
        self.settings = settings
        self.alone = alone
        self.groups = 0
        """Groups run so far (tests read it)."""
        self._queue: deque[tuple[J, asyncio.Future[R], int]] = deque()
        self._queued_items = 0
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._partial: asyncio.Task[None] | None = None
        """The running group that started before it was full, if any."""

    async def submit(self, job: J, items: int) -> R:
        """The job's result, once the group it joined has run."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        answer.add_done_callback(_retrieved)  # a caller gone meanwhile logs no warning
        self._queue.append((job, answer, items))
        self._queued_items += items
        if self._queued_items >= self.settings.max_items or self.settings.window_s <= 0:
            self._start()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self.settings.window_s, self._start
            )
        return await asyncio.shield(answer)

    def _start(self) -> None:
        """Start groups of what is queued, up to max_items each, while fewer than
        ``concurrency`` run and, for a group that could still grow, while no other such
        group runs; the rest starts when a group ends."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue and len(self._running) < self.settings.concurrency:
            count, items = self._head()
            full = count < len(self._queue) or items >= self.settings.max_items
            if not full and self._partial is not None:
                break
            jobs = [self._queue.popleft()[:2] for _ in range(count)]
            self._queued_items -= items
            task = asyncio.ensure_future(self._run(jobs))
            self._running.add(task)
            task.add_done_callback(self._ended)
            if not full:
                self._partial = task

    def _head(self) -> tuple[int, int]:
        """Jobs and items of the next group: queued jobs up to max_items (one at least).
        It is full when it reaches max_items or the job after it would not fit."""
        count, items, most = 0, 0, self.settings.max_items
        for _, _, size in self._queue:
            if count and items + size > most:
                break
            count, items = count + 1, items + size
        return count, items

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if task is self._partial:
            self._partial = None
        if self._queue:
            self._start()

    async def _run(self, jobs: list[tuple[J, asyncio.Future[R]]]) -> None:
        self.groups += 1
        try:
            results = await self.run([job for job, _ in jobs])
        except Exception as exc:
            if len(jobs) == 1 or not self.alone(exc):
                for _, answer in jobs:
                    _settle(answer, exc=exc)
                return
            for job, answer in jobs:  # in arrival order: one item's revisions stay in order
                try:
                    (result,) = await self.run([job])
                except Exception as alone_exc:
                    _settle(answer, exc=alone_exc)
                else:
                    _settle(answer, result)
            return
        for (_, answer), result in zip(jobs, results, strict=True):
            _settle(answer, result)


def _settle(
    answer: asyncio.Future[R],
    result: R | BaseException | None = None,
    exc: BaseException | None = None,
) -> None:
    if answer.done():
        return
    if isinstance(result, BaseException):
        exc = result
    if exc is not None:
        answer.set_exception(exc)
    else:
        answer.set_result(result)  # type: ignore[arg-type]


def _retrieved(answer: asyncio.Future[R]) -> None:
    if not answer.cancelled():
        answer.exception()
