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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")

Run = Callable[[Sequence[J]], Awaitable[Sequence[R]]]


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """How long the first job of a group waits for others, and how many items (summed
    over the group's jobs) start a group at once."""

    window_s: float = 0.002
    max_items: int = 2000


@dataclass(slots=True)
class _Pending(Generic[J, R]):
    jobs: list[tuple[J, asyncio.Future[R]]] = field(default_factory=list)
    items: int = 0
    timer: asyncio.TimerHandle | None = None


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
        """Groups run so far (tests and metrics read it)."""
        self._pending: _Pending[J, R] = _Pending()
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, job: J, items: int) -> R:
        """The job's result, once the group it joined has run."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        pending = self._pending
        pending.jobs.append((job, answer))
        pending.items += items
        if pending.items >= self.settings.max_items or self.settings.window_s <= 0:
            self._start()
        elif pending.timer is None:
            pending.timer = asyncio.get_running_loop().call_later(
                self.settings.window_s, self._start
            )
        return await asyncio.shield(answer)

    def _start(self) -> None:
        pending, self._pending = self._pending, _Pending()
        if pending.timer is not None:
            pending.timer.cancel()
        if not pending.jobs:
            return
        task = asyncio.ensure_future(self._run(pending.jobs))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

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
    answer: asyncio.Future[R], result: R | None = None, exc: BaseException | None = None
) -> None:
    if answer.done():
        return
    if exc is not None:
        answer.set_exception(exc)
    else:
        answer.set_result(result)  # type: ignore[arg-type]
