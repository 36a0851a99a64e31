"""``aedgw backup`` and ``aedgw restore`` on the embedded database, as a user runs them:
back up a running gateway, lose what came after, restore, ingest more, and an old feed
cursor reads on with no gap; a cursor handed out from the lost records is a 410."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import FIXTURES
from tests.gateway_process import Gateway, clean_env

ALPHA = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
GAMMA = (FIXTURES / "gamma" / "batch-3.json").read_bytes()
DELTA = (FIXTURES / "delta" / "good_batch.ndjson").read_bytes()
BETA = (FIXTURES / "beta" / "batch.xml").read_bytes()


def aedgw(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], env=env, cwd=cwd, capture_output=True, text=True
    )


def call(url: str, key: str, body: bytes | None = None, content_type: str = "") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} | (
        {"Content-Type": content_type} if content_type else {}
    )
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def items(page: dict[str, Any]) -> list[str]:
    return [record["item_id"] for record in page["records"]]


def test_backup_restore_and_an_old_cursor_reads_on_with_no_gap(workdir: Path) -> None:
    env = clean_env(AEDGW_DATA_DIR=str(workdir / "var"))
    server = Gateway(env, workdir).start().wait_ready()  # serve creates the database
    try:
        for code in ("alpha", "gamma", "delta", "beta"):
            assert aedgw(env, workdir, "operators", "add", code).returncode == 0
        keys = {
            code: aedgw(env, workdir, "keys", "issue", "--operator", code).stdout.strip()
            for code in ("alpha", "gamma", "delta", "beta")
        }
        reader = aedgw(env, workdir, "keys", "issue", "--targeting", "cbp").stdout.strip()


        def submit(code: str, body: bytes, media_type: str) -> tuple[int, Any]:
            return call(f"{server.url}/v1/messages", keys[code], body, media_type)

        assert submit("alpha", ALPHA, "application/xml")[0] == 202
        _, first = call(f"{server.url}/v1/records", reader)
        old_cursor = first["next"]  # a consumer has read alpha's records
        assert submit("gamma", GAMMA, "application/json")[0] == 202

        made = aedgw(env, workdir, "backup", str(workdir / "backup"), "--json")
        assert made.returncode == 0, made.stderr
        assert orjson.loads(made.stdout)["bytes"] > 0

        assert submit("delta", DELTA, "application/x-ndjson")[0] == 202  # lost below
        _, lost = call(f"{server.url}/v1/records?after={old_cursor}", reader)
        lost_cursor = lost["next"]
        assert len(items(lost)) == 6
        refused = aedgw(env, workdir, "restore", str(workdir / "backup"))
        assert refused.returncode == 1 and "stop the gateway first" in refused.stderr
    finally:
        server.signal(signal.SIGTERM)
        assert server.wait() == 0

    restored = aedgw(env, workdir, "restore", str(workdir / "backup"), "--json")
    assert restored.returncode == 0, restored.stderr
    assert orjson.loads(restored.stdout)["previous_data_moved_to"]

    server = Gateway(env, workdir).start().wait_ready()
    try:
        status, receipt = call(f"{server.url}/v1/messages", keys["beta"], BETA, "application/xml")
        assert status == 202, receipt
        status, page = call(f"{server.url}/v1/records?after={old_cursor}", reader)
        assert status == 200
        gamma_ids = [parcel["trackingNo"] for parcel in orjson.loads(GAMMA)["parcels"]]
        beta_ids = [r["item_id"] for r in page["records"] if r["operator"] == "beta"]
        # Everything after the old cursor, in order: gamma's (before the backup), then
        # beta's (after the restore); delta's were lost with what followed the backup.
        assert items(page) == gamma_ids + beta_ids
        assert len(beta_ids) == receipt["items"]["accepted"] > 0
        # Cursors handed out after the restore read on (new records sort after every
        # cursor of the lost ones: the restore moved the transaction id epoch on).
        assert call(f"{server.url}/v1/records?after={page['next']}", reader)[0] == 200
        status, body = call(f"{server.url}/v1/records?after={lost_cursor}", reader)
        assert status == 410 and body["error"]["code"] == "cursor_purged"
        assert "restore" in body["error"]["message"]
    finally:
        server.signal(signal.SIGTERM)
        assert server.wait() == 0, server.output()


def test_restore_refuses_what_is_not_a_backup_in_one_line(workdir: Path) -> None:
    env = clean_env(AEDGW_DATA_DIR=str(workdir / "var"))
    result = aedgw(env, workdir, "restore", str(workdir / "nothing"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not a backup" in result.stderr
    external = clean_env(AEDGW_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    (workdir / "fake").mkdir()
    result = aedgw(external, workdir, "backup", str(workdir / "fake" / "x"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
