"""``aedgw bench``: the JSON shape of a tiny quick run against real processes (aedgw serve,
the lean receiver) and a real database, and the exactly-once check it relies on. Speed is
never asserted: the figures only have to be there, positive and consistent."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from gateway.bench import report
from gateway.bench.messages import Ids
from gateway.bench.run import QUICK, BenchFailure, Run
from tests.conftest import FIXTURES, bearer

SCENARIOS = {"floor", "translate", "batch", "single", "ndjson", "feed", "deliver"}
TINY = ["--items", "200", "--batch", "100", "--lines", "150", "--backlog", "700", "--step", "0.5"]


def aedgw(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AEDGW_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )


def rate(value: object) -> bool:
    return isinstance(value, int | float) and value > 0


async def test_quick_json_is_one_object_with_every_scenario(database_url, pool) -> None:
    done = aedgw("bench", "--quick", "--json", *TINY, database_url=database_url)
    assert done.returncode == 0, done.stderr[-3000:]
    result = orjson.loads(done.stdout)  # nothing but the one object on stdout
    assert set(result) == {"machine", "scenarios"}
    assert {"cpu", "cores", "python", "postgresql", "loop"} <= set(result["machine"])
    assert result["machine"]["postgresql"][0].isdigit()
    scenarios = result["scenarios"]
    assert set(scenarios) == SCENARIOS

    floor, translate = scenarios["floor"], scenarios["translate"]
    assert floor["items"] == 200 and rate(floor["items_per_s"]) and rate(floor["parse_items_per_s"])
    assert translate["items"] == 200 and rate(translate["ratio_to_floor"])

    batch = scenarios["batch"]
    assert batch["items"] == 200
    assert all(rate(batch[k]) for k in ("items_per_s", "msgs_per_s", "p50_ms", "p99_ms"))
    assert batch["p50_ms"] <= batch["p95_ms"] <= batch["p99_ms"]
    assert rate(batch["ratio_to_floor"])
    assert set(batch["cpu_s_per_item"]) == {"gateway", "database", "load_generator"}

    single = scenarios["single"]
    assert single["steps"] and single["steps"][0]["rate_msgs_per_s"] == 100
    assert single["msgs_per_s"] == max(
        [s["rate_msgs_per_s"] for s in single["steps"] if s["non_202"] == 0 and s["p99_ms"] < 50],
        default=0,
    )

    ndjson = scenarios["ndjson"]
    assert ndjson["items"] == 150 and rate(ndjson["peak_rss_mb"])

    # feed and deliver went through every record of the database, each exactly once
    stored = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT (operator, item_id)) AS items FROM records"
    )
    assert stored["n"] == stored["items"] >= 700
    feed = scenarios["feed"]
    assert feed["records"] == stored["n"]
    assert rate(feed["json"]["records_per_s"]) and rate(feed["xml"]["records_per_s"])
    deliver = scenarios["deliver"]
    assert deliver["records"] == stored["n"] and deliver["duplicates"] >= 0
    assert rate(deliver["records_per_s"])
    assert set(deliver["cpu_s_per_item"]) == {"gateway", "database", "receiver"}
    # the table for people and the README's figures show every scenario that ran
    labels = [row[0].split(",")[0] for row in report.rows(result)]
    assert {"floor", "translate", "batch", "single", "ndjson", "feed JSON", "feed XML",
            "deliver"} <= set(labels)
    assert "| batch, items/s |" in report.markdown(result)
    delivered = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE target = 'bench' AND state = 'delivered'"
    )
    assert delivered == stored["n"]


async def test_a_person_s_mistake_is_one_line(database_url) -> None:
    done = aedgw("bench", "--items", "0", database_url=database_url)
    assert done.returncode == 2
    assert done.stderr.strip() == "aedgw bench: sizes must be positive"
    done = aedgw("bench", "--scenario", "nope", database_url=database_url)
    assert done.returncode == 2 and "invalid choice: 'nope'" in done.stderr


async def test_exactly_once_check_catches_a_lost_and_a_twice_stored_item(
    client, add_operator, pool, database_url
) -> None:
    key = await add_operator("alpha")
    headers = bearer(key, **{"Content-Type": "application/xml"})
    batch = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
    assert (await client.post("/v1/messages", data=batch, headers=headers)).status == 202
    run = Run(QUICK, database_url, pool, None, "alpha", key, Ids("t"), None, accepted=3)
    await run.check_stored("after one message")  # three items, one record each

    run.accepted = 4  # the gateway said it accepted an item the database does not hold
    with pytest.raises(BenchFailure, match="accepted 4 items, the database holds 3 of them"):
        await run.check_stored("lost")

    changed = batch.replace(b"ALPHA-20261128-0001", b"ALPHA-R2").replace(
        b'<GrossWeight unit="kg">1.25<', b'<GrossWeight unit="kg">1.22<'
    )
    assert (await client.post("/v1/messages", data=changed, headers=headers)).status == 202
    run.accepted = 3  # one item now has two records: not what fresh items may give
    with pytest.raises(BenchFailure, match=r"NOT EXACTLY ONCE.* 3 of them in 4 records"):
        await run.check_stored("twice")
