"""Feed read rate: page 10,000 real-sized records over HTTP, as JSON and as XML.

Skipped unless AEDGW_BENCH=1:
``AEDGW_BENCH=1 .venv/bin/python -m pytest tests/test_feed_bench.py -q -s``
"""

from __future__ import annotations

import os
import time

import orjson
import pytest

from tests.test_feed import issue_key, submit

RECORDS = 10_000

# A measurement, not a check: it takes a minute and asserts no timing, so it runs only
# when asked for (the figures go in notes; bench/ holds the other throughput scripts).
pytestmark = pytest.mark.skipif(
    not os.environ.get("AEDGW_BENCH"), reason="a benchmark: set AEDGW_BENCH=1 to measure"
)

CLONE = """
INSERT INTO records (record_id, operator, item_id, revision, function, message_id,
                     destination, data_sha256, body)
SELECT g.id, r.operator, 'B' || g.n, 1, 'ORIGINAL', r.message_id, r.destination,
       r.data_sha256,
       convert_to((stored_json(r.body) || jsonb_build_object('record_id', g.id::text))::text,
                  'UTF8')
FROM (SELECT * FROM records ORDER BY seq LIMIT 1) r,
     (SELECT gen_random_uuid() AS id, n FROM generate_series(1, $1) n) g
"""


@pytest.mark.parametrize("accept", ["application/json", "application/xml"])
async def test_feed_read_rate(client, add_operator, pool, accept) -> None:
    await submit(client, await add_operator("alpha"))
    await pool.execute(CLONE, RECORDS - 3)
    key = await issue_key(pool)
    headers = {"Authorization": f"Bearer {key}", "Accept": accept}
    read, params = 0, {"limit": "1000"}
    started = time.perf_counter()
    while True:
        response = await client.get("/v1/records", params=params, headers=headers)
        assert response.status == 200
        if accept == "application/json":
            body = orjson.loads(await response.read())
            count, params["after"] = len(body["records"]), body["next"]
        else:
            text = await response.text()
            count = text.count("<Record>")
            params["after"] = text.split('next="', 1)[1].split('"', 1)[0]
        if not count:
            break
        read += count
    elapsed = time.perf_counter() - started
    assert read == RECORDS
    print(f"\n{accept}: {read} records in {elapsed:.2f} s = {read / elapsed:,.0f} records/s")
