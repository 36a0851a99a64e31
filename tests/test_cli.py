"""The aedgw commands as a person runs them: real processes, a real database."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from tests.conftest import FIXTURES, bearer


def aedgw(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    if database_url:
        env["AEDGW_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_operators_and_keys_lifecycle(database_url: str, make_client) -> None:
    added = aedgw("operators", "add", "alpha", "--name", "Alpha Post", database_url=database_url)
    assert added.returncode == 0, added.stderr
    again = aedgw("operators", "add", "alpha", database_url=database_url)
    assert again.returncode == 1 and "exists already" in again.stderr

    issued = aedgw("keys", "issue", "--operator", "alpha", database_url=database_url)
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

    listed = aedgw("operators", "list", "--json", database_url=database_url)
    [alpha] = orjson.loads(listed.stdout)
    assert alpha["code"] == "alpha" and alpha["name"] == "Alpha Post"
    assert alpha["formats"] == ["alpha-itmatt"] and alpha["live_keys"] == 1

    key_id = key.split("_")[1]
    rotated = aedgw("keys", "rotate", key_id, "--overlap", "1", database_url=database_url)
    assert rotated.returncode == 0 and rotated.stdout.strip().startswith("aedgw_")
    revoked = aedgw("keys", "revoke", key_id, database_url=database_url)
    assert revoked.returncode == 0
    assert aedgw("keys", "revoke", key_id, database_url=database_url).returncode == 1

    disabled = aedgw("operators", "disable", "alpha", database_url=database_url)
    assert disabled.returncode == 0
    [alpha] = orjson.loads(aedgw("operators", "list", "--json", database_url=database_url).stdout)
    assert alpha["disabled_at"] is not None


def test_keys_for_an_unknown_operator_are_refused(database_url: str) -> None:
    result = aedgw("keys", "issue", "--operator", "nobody", database_url=database_url)
    assert result.returncode == 1 and result.stdout == ""


def test_operator_with_unknown_format_is_refused(database_url: str) -> None:
    result = aedgw("operators", "add", "zeta", "--format", "zeta-xml", database_url=database_url)
    assert result.returncode == 2 and "unknown format" in result.stderr


def test_translate_needs_no_database() -> None:
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    result = aedgw(
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

    refused = aedgw(
        "translate", "--operator", "alpha", str(FIXTURES / "alpha" / "v11-schema-invalid.xml")
    )
    assert refused.returncode == 1
    assert orjson.loads(refused.stdout)["error"]["code"] == "schema_invalid"


def test_migrate_is_idempotent(database_url: str) -> None:
    result = aedgw("migrate", database_url=database_url)
    assert result.returncode == 0
    assert "up to date" in result.stdout


def test_demo_replays_every_fixture_and_drains_delivery(database_url: str) -> None:
    result = aedgw("demo", "--fail-rate", "0.3", "--no-wait", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "alpha" in result.stdout and "epsilon" in result.stdout
    outbox_line = next(line for line in result.stdout.splitlines() if line.startswith("outbox:"))
    assert "'delivered'" in outbox_line
    assert "pending" not in outbox_line and "in_flight" not in outbox_line
