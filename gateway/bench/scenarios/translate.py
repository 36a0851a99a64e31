"""translate: parse + schema + adapter + canonical rules in-process, as a message's
items go through them before storage; compared with the parse rate of the same run.
The bench's start-up objects are frozen out of the collector first, as ``aedgw serve``'s
are once it listens (gateway/heap.py): else its walks over what the bench process holds
would be timed as translation (about 15 % of the stage)."""

from __future__ import annotations

from typing import Any

from adapters.registry import default_registry
from gateway import heap
from gateway.bench.run import BenchFailure, Run, median_seconds
from gateway.document import parse
from gateway.ingest.adapt import translate


async def measure(run: Run) -> dict[str, Any]:
    items = run.sizes.items
    messages = run.alpha.messages(items, run.sizes.batch)
    registry = default_registry()
    adapters = registry.candidates(registry.formats_of("alpha"))
    heap.settle()

    async def translate_all() -> None:
        for message in messages:
            result = translate(parse(message, "application/xml"), adapters)
            if result.errors:
                raise BenchFailure(f"translate: the bench's items were refused: {result.errors[0]}")

    seconds = await median_seconds(translate_all)
    rate = items / seconds
    return {
        "items": items,
        "items_per_s": round(rate),
        "ratio_to_floor": round(rate / await run.parse_rate(messages, items), 3),
    }
