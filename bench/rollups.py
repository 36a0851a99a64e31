"""How long the daily rollups take over a day of stored records.

    python bench/rollups.py [--records 50000]

Stores N copies of a real gamma record (one day, one operator) in a throwaway embedded
database and times ``rollups.ensure`` (set-based SQL; the scorecard and the purge wait
for it, ingest never does).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from gateway import rollups
from gateway.cli.database import migrated_pool
from gateway.embedded import embedded_server

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "gamma" / "times.expected.json"


async def run(url: str, records: int) -> float:
    pool = await migrated_pool(url)
    record = orjson.loads(FIXTURE.read_bytes())["translation"]["records"][0]
    record |= {"received_at": "2026-12-01T10:00:00Z", "quality_flags": ["vague_description"]}
    message_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO operators (code, name, formats) VALUES ('gamma', 'gamma', '{x}')")
        await conn.execute(
            "INSERT INTO messages (message_id, operator, content_type, raw, raw_sha256,"
            " received_at, status, http_status, receipt)"
            " VALUES ($1, 'gamma', 'application/json', 'x', 'x', now(), 'accepted', 202, $2)",
            message_id, {"items": {"received": records, "rejected": 0}, "errors": []})
        for start in range(0, records, 10_000):
            await conn.execute(
                "INSERT INTO records (record_id, operator, item_id, revision, function,"
                " message_id, data_sha256, body)"
                " SELECT gen_random_uuid(), 'gamma', 'X' || g, 1, 'ORIGINAL', $1, 'x', $2::jsonb"
                " FROM generate_series($3::int, $4::int) AS g",
                message_id, orjson.dumps(record).decode(), start + 1,
                min(start + 10_000, records))
        await conn.execute("ANALYZE")
    started = time.perf_counter()
    await rollups.ensure(pool, rollups.today())
    elapsed = time.perf_counter() - started
    await pool.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, embedded_server(Path(tmp) / "pg") as url:
        elapsed = asyncio.run(run(url, args.records))
    print(f"{args.records} records rolled up in {elapsed:.2f} s "
          f"({args.records / elapsed:,.0f} records/s)")


if __name__ == "__main__":
    main()
