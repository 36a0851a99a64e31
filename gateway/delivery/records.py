"""The targeting channel: a batch is ``{"records": [<canonical record>, ...]}``.

Receiver contract: 2xx accepts the whole batch. A receiver that refuses some records
answers 422 with ``{"rejected": [{"record_id": "...", "reason": "..."}]}``: nothing of
the batch is taken, the named records become dead letters and the others are sent again
in a new batch. A 4xx that names no record makes the gateway split the batch until the
refused record is alone.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.delivery.channel import Payload
from gateway.delivery.outbox import Batch


def bodies(batch: Batch) -> list[bytes]:
    """The stored JSON of each record of a batch, in the batch's order."""
    found = [r.body for r in batch.rows if r.body is not None]
    if len(found) != len(batch.rows):
        raise ValueError(f"batch {batch.batch_id} has rows without a record")
    return found


class RecordsChannel:
    async def render(self, pool: asyncpg.Pool, batch: Batch) -> Payload:
        """The stored JSON of each record (read with the claim), spliced in unparsed, in the
        batch's order."""
        return Payload(b'{"records":[' + b",".join(bodies(batch)) + b"]}")

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
