"""The targeting channel: a batch is ``{"records": [<canonical record>, ...]}``.

Receiver contract: 2xx accepts the whole batch. A receiver that refuses some records
answers 422 with ``{"rejected": [{"record_id": "...", "reason": "..."}]}``: nothing of
the batch is taken, the named records become dead letters and the others are sent again
in a new batch. A 4xx that names no record makes the gateway split the batch until the
refused record is alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from gateway.delivery.channel import Payload
from gateway.delivery.outbox import Batch
from gateway.store import Q


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A claimed record as stored: its canonical JSON and what routes it."""

    body: bytes
    operator: str
    destination: str | None


async def stored_records(pool: asyncpg.Pool, batch: Batch) -> list[StoredRecord]:
    """The records of a batch's rows, in the batch's order."""
    rows = await pool.fetch(Q.record_bodies, [r.record_id for r in batch.rows])
    by_id = {r["record_id"]: r for r in rows}
    return [
        StoredRecord(by_id[r.record_id]["body"].encode(), r.operator,
                     by_id[r.record_id]["destination"])
        for r in batch.rows
    ]


class RecordsChannel:
    async def render(self, pool: asyncpg.Pool, batch: Batch) -> Payload:
        """The stored JSON of each record, spliced in unparsed, in the batch's order."""
        records = b",".join(r.body for r in await stored_records(pool, batch))
        return Payload(b'{"records":[' + records + b"]}")

    def rejected(self, batch: Batch, answer: Any) -> dict[int, str]:
        entries = answer.get("rejected") if isinstance(answer, dict) else None
        if not isinstance(entries, list):
            return {}
        rows = {str(r.record_id): r.id for r in batch.rows}
        named = {}
        for entry in entries:
            if isinstance(entry, dict) and str(entry.get("record_id")) in rows:
                reason = entry.get("reason") or entry.get("message") or "rejected by the receiver"
                named[rows[str(entry["record_id"])]] = str(reason)
        return named
