"""The aedgw commands as a person runs them, against a real database: in this process
(the ``cli`` fixture) where a subprocess adds nothing; the entry point and ``demo`` in
real processes."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from gateway.delivery.circuit import Circuit
from tests.conftest import FIXTURES, bearer


def aedgw(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    if database_url:
        env["AEDGW_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )


async def test_operators_and_keys_lifecycle(database_url: str, make_client, cli) -> None:
    added = cli("operators", "add", "alpha", "--name", "Alpha Post", database_url=database_url)
    assert added.returncode == 0, added.stderr
    again = cli("operators", "add", "alpha", database_url=database_url)
    assert again.returncode == 1 and "exists already" in again.stderr

    issued = cli("keys", "issue", "--operator", "alpha", database_url=database_url)
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    assert issued.stdout == key + "\n", "the key alone on stdout"
    assert key.startswith("aedgw_") and "shown only once" in issued.stderr

    client = await make_client()
    batch = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
    response = await client.post(
        "/v1/messages", data=batch, headers=bearer(key, **{"Content-Type": "application/xml"})
    )
    assert response.status == 202

    listed = cli("operators", "list", "--json", database_url=database_url)
    [alpha] = orjson.loads(listed.stdout)
    assert alpha["code"] == "alpha" and alpha["name"] == "Alpha Post"
    assert alpha["formats"] == ["alpha-itmatt"] and alpha["live_keys"] == 1

    key_id = key.split("_")[1]
    rotated = cli("keys", "rotate", key_id, "--overlap", "1", database_url=database_url)
    assert rotated.returncode == 0 and rotated.stdout.strip().startswith("aedgw_")
    revoked = cli("keys", "revoke", key_id, database_url=database_url)
    assert revoked.returncode == 0
    assert cli("keys", "revoke", key_id, database_url=database_url).returncode == 1

    disabled = cli("operators", "disable", "alpha", database_url=database_url)
    assert disabled.returncode == 0
    [alpha] = orjson.loads(cli("operators", "list", "--json", database_url=database_url).stdout)
    assert alpha["disabled_at"] is not None


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_an_unknown_operator_is_named_with_the_known_ones(database_url: str, cli) -> None:
    assert cli("operators", "add", "beta", database_url=database_url).returncode == 0
    assert cli("operators", "add", "alpha", database_url=database_url).returncode == 0
    for command in (("keys", "issue", "--operator", "nobody"), ("operators", "disable", "nobody")):
        result = cli(*command, database_url=database_url)
        assert result.returncode == 1 and result.stdout == ""
        assert one_line(result.stderr.split("\n", 1)[1]) == (
            "aedgw: no operator 'nobody' (known: alpha, beta)"
        )


def test_person_mistakes_are_one_line_never_a_traceback(database_url: str, cli) -> None:
    for command, expected in [
        (("keys", "issue", "--operator", "ALPHA"), "operator codes are lower case: 'alpha'"),
        (("operators", "add", "Alpha"), "operator codes are lower case: 'alpha'"),
        (("operators", "add", "al pha"), "is not an operator code"),
        (("operators", "lisst"), "invalid choice: 'lisst'"),
        (("keys", "rotate", "abc", "--overlap", "-1"), "is not a number of hours"),
        (("deadletters", "list", "--limit", "-3"), "is not a number above 0"),
        (("deadletters", "replay", "--rate", "0"), "is not a number above 0"),
        (("deadletters", "list", "--since", "last week"), "since is not an ISO 8601 time"),
        (("targets", "backfill", "cbp"), "no target 'cbp' in the settings (known: none"),
        (("targets", "backfill", "cbp", "--since", "monday"), "is not an ISO 8601 time"),
    ]:
        result = cli(*command, database_url=database_url)
        assert result.returncode in (1, 2), command
        assert expected in result.stderr.splitlines()[-1], (command, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_setting_of_the_wrong_type_is_one_line(cli) -> None:
    for env, expected in [
        ({"AEDGW_LISTEN": "8080"}, "listen = '8080': is \"HOST:PORT\""),
        ({"AEDGW_TARGETS": '[{"name": "cbp", "url": "http://t", "batch_size": -1}]'},
         "targets[0].batch_size = -1: at least 1"),
    ]:
        result = cli("targets", "list", env=env)
        assert result.returncode == 2
        assert one_line(result.stderr).startswith(f"aedgw: configuration: {expected}")


def test_operator_with_unknown_format_is_refused(database_url: str, cli) -> None:
    result = cli("operators", "add", "zeta", "--format", "zeta-xml", database_url=database_url)
    assert result.returncode == 2 and "unknown format" in result.stderr


def test_an_unreachable_database_is_one_line(cli) -> None:
    result = cli("operators", "list", database_url="postgresql://me:pw@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "pw" not in result.stderr, "no password on the screen"
    assert result.stderr.splitlines()[-1].startswith(
        "aedgw: the database postgresql://me:***@127.0.0.1:1/none"
    )
    assert "Traceback" not in result.stderr


def test_tables_keep_their_width_when_piped(database_url: str, cli) -> None:
    url = "https://callbacks.example/" + "x" * 120
    added = cli("operators", "add", "alpha", "--callback-url", url, database_url=database_url)
    assert added.returncode == 0, added.stderr
    table = cli("operators", "list", database_url=database_url).stdout
    [row] = [line for line in table.splitlines() if "alpha" in line]
    assert url in row, "one row, one line, however wide"


def test_every_listing_has_json(database_url: str, cli) -> None:
    listings = [("operators", "list"), ("deadletters", "list"), ("targets", "list"),
                ("adapters", "list")]
    for command in listings:
        result = cli(*command, "--json", database_url=database_url)
        assert result.returncode == 0, (command, result.stderr)
        assert isinstance(orjson.loads(result.stdout), list), command


def test_circuit_changes_are_logged(json_logs) -> None:
    now = [0.0]
    circuit = Circuit("cbp", 2, 10.0, clock=lambda: now[0])
    permit = circuit.acquire()
    circuit.release(permit, False)
    circuit.release(circuit.acquire(), False)
    now[0] = 11.0
    probe = circuit.acquire()
    circuit.release(probe, True)
    events = [orjson.loads(line) for line in json_logs.getvalue().splitlines()]
    changes = [(e["event"], e["target"]) for e in events if e["event"].startswith("circuit_")]
    assert changes == [("circuit_open", "cbp"), ("circuit_half_open", "cbp"),
                       ("circuit_closed", "cbp")]


def test_translate_needs_no_database(cli) -> None:
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    result = cli(
        "translate",
        "--operator",
        "alpha",
        str(FIXTURES / "alpha" / "v11-one-bad-item.xml"),
        database_url=unreachable,
    )
    assert result.returncode == 0, result.stderr
    out = orjson.loads(result.stdout)
    translation = out["translation"]
    assert translation["status"] == "partially_accepted"
    assert [e["code"] for e in translation["errors"]] == ["s10_check_digit"]
    assert len(translation["records"]) == 2

    refused = cli(
        "translate", "--operator", "alpha", str(FIXTURES / "alpha" / "v11-schema-invalid.xml")
    )
    assert refused.returncode == 1
    assert orjson.loads(refused.stdout)["error"]["code"] == "schema_invalid"


def test_migrate_is_idempotent(database_url: str) -> None:
    result = aedgw("migrate", database_url=database_url)  # the entry point itself
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_demo_replays_every_fixture_and_drains_delivery(database_url: str) -> None:
    result = aedgw("demo", "--fail-rate", "0.3", "--no-wait", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "alpha" in result.stdout and "epsilon" in result.stdout
    outbox_line = next(line for line in result.stdout.splitlines() if line.startswith("outbox:"))
    assert "'delivered'" in outbox_line
    assert "pending" not in outbox_line and "in_flight" not in outbox_line
