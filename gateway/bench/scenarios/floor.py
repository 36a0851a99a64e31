"""floor: what any gateway pays for these messages, measured in the same run.

lxml parse + XSD (libxml2) + COPY of (item id, element bytes) into a logged table with a
primary key, one message after the other, each committed on its own; a warm-up pass,
then the median of 3. ``parse_items_per_s`` is the parse alone, the translate floor.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from gateway.bench.messages import NS
from gateway.bench.run import Run, median_seconds
from gateway.schemas import validate_xml
from gateway.store import Q

SCHEMA = "alpha-itmatt-11.xsd"
ITEMS = f"{{{NS}}}Items/{{{NS}}}Item"
ITEM_ID = f"{{{NS}}}ItemId"


async def measure(run: Run) -> dict[str, Any]:
    items = run.sizes.items
    messages = run.alpha.messages(items, run.sizes.batch)
    parse_rate = await run.parse_rate(messages, items)
    async with run.pool.acquire() as conn:
        await conn.execute(Q.bench_floor_create)

        async def store_all() -> None:
            for message in messages:
                root = etree.fromstring(message)
                validate_xml(SCHEMA, root)
                rows = [(item.findtext(ITEM_ID), etree.tostring(item))
                        for item in root.iterfind(ITEMS)]
                await conn.copy_records_to_table(
                    "bench_floor", records=rows, columns=("item_id", "element")
                )

        async def one_pass() -> None:
            await conn.execute(Q.bench_floor_truncate)
            await store_all()

        try:
            # the truncate is timed too: a few ms on a table of this size, against seconds
            seconds = await median_seconds(one_pass)
        finally:
            await conn.execute(Q.bench_floor_drop)
    run.figures["floor_items_per_s"] = items / seconds
    return {
        "items": items,
        "items_per_s": round(items / seconds),
        "parse_items_per_s": round(parse_rate),
    }
