"""What the operations console shows, read from the database (never one process's memory,
since several processes serve one port): traffic per operator and hour, rejections by
code with examples, outbox queues and the circuit breakers every process reports."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from gateway.store import Q

CIRCUIT_REPORT_LIVE_S = 60.0
"""A process's breaker report counts this long (processes report every few seconds)."""
CIRCUIT_NAMES = {0: "closed", 1: "open", 2: "half-open"}
PROCESS = f"{socket.gethostname()}:{os.getpid()}"
"""How this process names itself in circuit reports."""


@dataclass(slots=True)
class Traffic:
    """One operator's last hours, hour by hour (oldest first)."""

    operator: str
    hours: list[datetime]
    messages: list[int]
    items: list[int]
    rejected: list[int]
    refused: int = 0

    @property
    def rejection_rate(self) -> float | None:
        received = sum(self.items)
        return sum(self.rejected) / received if received else None


def hours_back(now: datetime, hours: int) -> list[datetime]:
    """The start of each of the last ``hours`` UTC hours, the current one last."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=back) for back in range(hours - 1, -1, -1)]


async def traffic(
    pool: asyncpg.Pool, operators: Iterable[str], hours: int = 24
) -> list[Traffic]:
    """Messages, items and rejected items of every operator per hour, zeros included."""
    slots = hours_back(datetime.now(UTC), hours)
    index = {hour: i for i, hour in enumerate(slots)}
    found = {
        code: Traffic(code, slots, [0] * hours, [0] * hours, [0] * hours)
        for code in operators
    }
    for row in await pool.fetch(Q.hourly_traffic, slots[0]):
        entry = found.setdefault(
            row["operator"],
            Traffic(row["operator"], slots, [0] * hours, [0] * hours, [0] * hours),
        )
        i = index.get(row["hour"].astimezone(UTC))
        if i is None:
            continue
        entry.messages[i] = row["messages"]
        entry.items[i] = row["items"]
        entry.rejected[i] = row["rejected"]
        entry.refused += row["refused"]
    return sorted(found.values(), key=lambda t: t.operator)


@dataclass(slots=True)
class Rejections:
    """One operator's rejections of one code (``kind`` item or message), with examples."""

    operator: str
    kind: str
    code: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)


async def rejections(
    pool: asyncpg.Pool, since: datetime, operator: str | None = None, examples: int = 5
) -> list[Rejections]:
    """Most frequent codes first per operator; examples newest first."""
    groups: dict[tuple[str, str, str], Rejections] = {}
    for row in await pool.fetch(Q.rejection_examples, since, operator, examples):
        key = (row["operator"], row["kind"], row["code"])
        group = groups.setdefault(key, Rejections(*key, row["n"]))
        group.examples.append({
            "item_id": row["item_id"],
            "path": row["path"],
            "message_id": str(row["message_id"]),
            "received_at": row["received_at"],
        })
    return list(groups.values())


@dataclass(slots=True)
class Queue:
    """One outbox queue (a target, or an operator's callbacks) and its breakers."""

    target: str
    pending: int = 0
    in_flight: int = 0
    dead: int = 0
    oldest_s: float | None = None
    circuits: dict[str, str] = field(default_factory=dict)
    """Breaker state per process that reported one lately."""

    @property
    def circuit(self) -> str:
        """The worst state any process reports (open, half-open, closed), or unknown."""
        states = set(self.circuits.values())
        for state in ("open", "half-open", "closed"):
            if state in states:
                return state
        return "unknown"


async def queues(pool: asyncpg.Pool, targets: Iterable[str] = ()) -> list[Queue]:
    """Every queue with live rows, reported breakers, or configured here."""
    found = {name: Queue(name) for name in targets}
    for row in await pool.fetch(Q.outbox_by_target):
        queue = found.setdefault(row["target"], Queue(row["target"]))
        queue.pending, queue.in_flight, queue.dead = row["pending"], row["in_flight"], row["dead"]
        queue.oldest_s = row["oldest_s"]
    for row in await pool.fetch(Q.recent_circuit_states, CIRCUIT_REPORT_LIVE_S):
        queue = found.setdefault(row["target"], Queue(row["target"]))
        queue.circuits[row["process"]] = CIRCUIT_NAMES[row["state"]]
    return sorted(found.values(), key=lambda q: q.target)


async def report_circuit(pool: asyncpg.Pool, target: str, state: int) -> None:
    """This process's breaker state for ``target``, for every process's console."""
    await pool.execute(Q.report_circuit, target, PROCESS, state)
