"""The scorecard's figures against a hand-made case (tests/scorecard_case.py), computed
from daily rollups over real ingest; baselines, targets and trend; rollups that outlive
the data they came from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import orjson
import pytest

from gateway import audit, keys, rollups, scorecard
from gateway.keys import Scope
from gateway.scorecard import Period
from tests import scorecard_case as case
from tests.conftest import bearer
from tests.test_openapi import SPEC

JSON = {"Content-Type": "application/json"}


async def send(client, key: str, body: bytes) -> dict:
    response = await client.post("/v1/messages", data=body, headers=bearer(key, **JSON))
    assert response.status in (202, 422), await response.text()
    return await response.json()


async def send_case(client, key: str) -> list[dict]:
    return [await send(client, key, body)
            for body in (case.message_a(), case.message_b(), case.MESSAGE_C)]


async def backdate(pool, message_id: str, days: int) -> None:
    """Move a message and its records into the past (the stored columns rollups read)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE messages SET received_at = received_at - make_interval(days => $2)"
            " WHERE message_id = $1::uuid", message_id, days)
        await conn.execute(
            "UPDATE records SET created_at = created_at - make_interval(days => $2)"
            " WHERE message_id = $1::uuid", message_id, days)


def by_name(card: dict) -> dict[str, dict]:
    return {m["name"]: m for m in card["measures"]}


async def test_figures_of_the_hand_made_case(client, add_operator, pool) -> None:
    key = await add_operator("gamma")
    await send_case(client, key)
    period = Period.week_of(rollups.today())
    [card] = await scorecard.scorecards(pool, period, operator="gamma", max_age_s=0)
    assert card["counts"] == case.COUNTS
    measures = by_name(card)
    for name, value in case.VALUES.items():
        assert measures[name]["value"] == pytest.approx(value, abs=1e-6), name
    assert measures["hs_code_share"]["numerator"] == 5
    assert measures["hs_code_share"]["denominator"] == 6
    assert card["rejections"] == {"s10_check_digit": 1}
    assert card["refusals"] == {"schema_invalid": 1}
    # P1 arrived a little under 2 h before departure: late under 2 h, not under 1 h.
    [strict] = await scorecard.scorecards(pool, period, operator="gamma", late_hours=2)
    [lenient] = await scorecard.scorecards(pool, period, operator="gamma", late_hours=1)
    assert strict["counts"]["late"] == 1 and lenient["counts"]["late"] == 0
    # The baseline defaults to the first 30 days with data: today is in it.
    assert card["baseline"]["from"] == rollups.today().isoformat()
    assert measures["hs_code_share"]["vs_baseline"] == "same"
    assert card["weeks"][-1]["values"]["hs_code_share"] == pytest.approx(5 / 6, abs=1e-6)


async def test_a_period_without_data_has_no_values(client, add_operator, pool) -> None:
    key = await add_operator("gamma")
    await send_case(client, key)
    empty = Period.parse("2020-01-01", "2020-01-31", rollups.today())
    [card] = await scorecard.scorecards(pool, empty, operator="gamma")
    assert all(m["value"] is None and m["vs_baseline"] is None for m in card["measures"])
    assert card["counts"]["messages"] == 0


async def test_baseline_targets_and_trend(client, add_operator, pool) -> None:
    key = await add_operator("gamma")
    first = await send(client, key, case.message_a())
    await backdate(pool, first["message_id"], 40)
    await send(client, key, case.message_b())
    await send(client, key, case.MESSAGE_C)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE operators SET created_at = now() - interval '41 days'")
        await scorecard.set_targets(conn, "gamma", {"hs_code_share": 0.9, "rejected_share": 0.0,
                                                    "late_share": 0.0})
    today = rollups.today()
    [card] = await scorecard.scorecards(pool, Period.week_of(today), operator="gamma")
    started = today - timedelta(days=40)
    assert card["baseline"] == {"from": started.isoformat(),
                                "to": (started + timedelta(days=29)).isoformat()}
    m = by_name(card)
    # Now: B (P1', both lines with HS codes) and C (refused, no items).
    assert m["hs_code_share"]["value"] == 1.0
    # Baseline: A alone: lines 2 + 1 + 1, with HS 2 + 0 + 1.
    assert m["hs_code_share"]["baseline"] == 0.75
    assert m["hs_code_share"]["vs_baseline"] == "better" and m["hs_code_share"]["meets_target"]
    assert m["rejected_share"]["value"] == 0.0 and m["rejected_share"]["baseline"] == 0.25
    assert m["rejected_share"]["vs_baseline"] == "better" and m["rejected_share"]["meets_target"]
    assert m["phone_invalid_share"]["baseline"] == pytest.approx(1 / 3, abs=1e-6)
    assert m["late_share"]["value"] == 0.0 and m["late_share"]["baseline"] == 0.5
    assert m["amendments_per_item"]["value"] is None  # no item first sent this week
    assert m["vague_description_share"]["target"] is None
    assert m["vague_description_share"]["meets_target"] is None

    # A baseline period set by hand replaces the default one.
    async with pool.acquire() as conn:
        await scorecard.set_baseline(conn, "gamma", Period(today, today))
    [card] = await scorecard.scorecards(pool, Period.week_of(today), operator="gamma")
    assert by_name(card)["hs_code_share"]["baseline"] == 1.0
    assert by_name(card)["hs_code_share"]["vs_baseline"] == "same"


async def test_final_rollups_outlive_the_data(client, add_operator, pool) -> None:
    """The purge deletes a day's records and messages after ensure() has run through it;
    the scorecard still has that day."""
    key = await add_operator("gamma")
    first = await send(client, key, case.message_a())
    await backdate(pool, first["message_id"], 3)
    day = rollups.today() - timedelta(days=3)
    assert await rollups.ensure(pool, day) == day, "the day is final: its data may go"
    assert await rollups.ensure(pool, rollups.today()) < rollups.today(), "today is not"
    row = await pool.fetchrow("SELECT final, records FROM daily_rollups WHERE day = $1", day)
    assert row["final"] and row["records"] == 3
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM records")
        await conn.execute("DELETE FROM message_claims")
        await conn.execute("DELETE FROM messages")
    await rollups.ensure(pool, rollups.today())
    [card] = await scorecard.scorecards(pool, Period(day, day), operator="gamma", max_age_s=0)
    assert card["counts"]["records"] == 3
    assert by_name(card)["hs_code_share"]["value"] == 0.75


async def test_ensure_is_safe_to_race(client, add_operator, pool) -> None:
    import asyncio

    key = await add_operator("gamma")
    await send_case(client, key)
    await asyncio.gather(*(rollups.ensure(pool, rollups.today()) for _ in range(3)))
    assert await pool.fetchval("SELECT count(*) FROM daily_rollups") == 1


def test_last_final_day_waits_an_hour_after_midnight() -> None:
    just_after = datetime(2026, 12, 3, 0, 30, tzinfo=UTC)
    later = datetime(2026, 12, 3, 1, 30, tzinfo=UTC)
    assert rollups.last_final_day(just_after).isoformat() == "2026-12-01"
    assert rollups.last_final_day(later).isoformat() == "2026-12-02"


@pytest.mark.parametrize(
    ("measure", "text", "value"),
    [("hs_code_share", "95%", 0.95), ("hs_code_share", "0.9", 0.9),
     ("amendments_per_item", "1.5", 1.5)],
)
def test_targets_as_people_write_them(measure: str, text: str, value: float) -> None:
    assert scorecard.parse_target(measure, text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("measure", "text", "says"),
    [("hs_code_share", "1.5", "0 to 1"), ("hs_code_share", "lots", "not a number"),
     ("nonsense", "1", "unknown measure"), ("late_share", "-1", "0 to 1"),
     ("amendments_per_item", "nan", "0 or more")],
)
def test_bad_targets_are_named(measure: str, text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        scorecard.parse_target(measure, text)


def test_periods() -> None:
    today = datetime(2026, 12, 3, tzinfo=UTC).date()  # a Thursday
    assert Period.parse(None, None, today).to_dict() == {"from": "2026-11-30", "to": "2026-12-06"}
    assert Period.parse("2026-11-01", None, today).to_dict() == {"from": "2026-11-01",
                                                                 "to": "2026-12-03"}
    with pytest.raises(ValueError, match="since"):
        Period.parse("yesterday", None, today)
    with pytest.raises(ValueError, match="after until"):
        Period.parse("2026-12-05", "2026-12-01", today)
    with pytest.raises(ValueError, match="from 1970 to 2999"):
        Period.parse(None, "0001-01-07", today)


async def test_scorecard_over_http(client, add_operator, pool) -> None:
    key = await add_operator("gamma")
    other = await add_operator("alpha")
    await send_case(client, key)
    async with pool.acquire() as conn:
        _, admin = await keys.issue(conn, Scope.ADMIN, "ops", audit.cli_actor())

    response = await client.get("/v1/admin/scorecard", headers=bearer(admin))
    assert response.status == 200
    body = await response.json()
    assert [c["operator"] for c in body["scorecards"]] == ["alpha", "gamma"]
    gamma = body["scorecards"][1]
    assert gamma["counts"] == case.COUNTS
    schema = {"$ref": "#/components/schemas/Scorecard", "components": SPEC["components"]}
    for card in body["scorecards"]:
        jsonschema.validate(card, schema, cls=jsonschema.Draft202012Validator)

    response = await client.get("/v1/scorecard", headers=bearer(key))
    assert response.status == 200
    assert (await response.json())["counts"] == case.COUNTS
    response = await client.get("/v1/scorecard", headers=bearer(other))
    assert (await response.json())["counts"]["records"] == 0, "an operator sees its own only"

    for path, who, status in [
        ("/v1/admin/scorecard?operator=nobody", admin, 404),
        ("/v1/admin/scorecard?since=last-week", admin, 400),
        ("/v1/admin/scorecard?since=2026-12-02&until=2026-12-01", admin, 400),
        ("/v1/admin/scorecard?colour=blue", admin, 400),
        ("/v1/scorecard?operator=gamma", other, 400),
        ("/v1/admin/scorecard", key, 403),
        ("/v1/scorecard", admin, 403),
    ]:
        response = await client.get(path, headers=bearer(who))
        assert response.status == status, path
        assert (await response.json())["error"]["code"]


async def test_scorecard_and_targets_commands(
    client, add_operator, database_url, pool, cli
) -> None:
    key = await add_operator("gamma")
    await send_case(client, key)
    done = cli("operators", "targets", "set", "gamma", "hs_code_share=90%",
                 "rejected_share=0.1", database_url=database_url)
    assert done.returncode == 0, done.stderr
    listed = cli("operators", "targets", "list", "gamma", "--json", database_url=database_url)
    assert {r["measure"]: r["value"] for r in orjson.loads(listed.stdout)} == {
        "hs_code_share": 0.9, "rejected_share": 0.1}
    entries = await audit.entries(pool, action="operators.targets")
    assert entries[-1]["subject"] == "gamma"

    shown = cli("scorecard", "--operator", "gamma", "--json", database_url=database_url)
    assert shown.returncode == 0, shown.stderr
    [card] = orjson.loads(shown.stdout)
    m = by_name(card)
    assert m["hs_code_share"]["target"] == 0.9 and m["hs_code_share"]["meets_target"] is False
    assert m["rejected_share"]["meets_target"] is False  # 20 % rejected, target 10 %
    table = cli("scorecard", database_url=database_url)
    assert table.returncode == 0 and "83.3 %" in table.stdout and "NO" in table.stdout

    baseline = cli("operators", "baseline", "set", "gamma", "--from", "2026-01-01",
                     "--to", "2026-01-30", database_url=database_url)
    assert baseline.returncode == 0, baseline.stderr
    [card] = orjson.loads(cli("scorecard", "--operator", "gamma", "--json",
                                database_url=database_url).stdout)
    assert card["baseline"] == {"from": "2026-01-01", "to": "2026-01-30"}

    for args, says in [
        (("scorecard", "--operator", "nobody"), "no operator 'nobody'"),
        (("scorecard", "--since", "monday"), "not a date"),
        (("operators", "targets", "set", "gamma", "hs_code_share"), "MEASURE=VALUE"),
        (("operators", "targets", "set", "gamma", "speed=1"), "unknown measure"),
        (("operators", "targets", "set", "nobody", "late_share=0.1"), "no operator"),
        (("operators", "baseline", "set", "gamma", "--from", "2026-02-01", "--to", "2026-01-01"),
         "after"),
    ]:
        failed = cli(*args, database_url=database_url)
        assert failed.returncode != 0 and says in failed.stderr, (args, failed.stderr)
        assert "Traceback" not in failed.stderr
