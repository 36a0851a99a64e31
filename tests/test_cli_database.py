"""Admin commands use the database of the running ``aedgw serve`` from any directory, or
say that there is none: they never create an empty one where they happen to run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from gateway.embedded import state_file
from tests.conftest import FIXTURES
from tests.test_serve import free_port

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()


def start_serve(site: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    env["AEDGW_LOG_FORMAT"] = "json"
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return server
        except OSError:
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "the gateway did not come up"
            time.sleep(0.3)


def submit(port: int, key: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/messages", data=BATCH, method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_admin_commands_find_the_database_of_aedgw_serve(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    port = free_port()
    server = start_serve(site, port)
    try:
        pg_dir = (site / "var" / "pg").resolve()
        assert orjson.loads(state_file().read_bytes())["pg_dir"] == str(pg_dir)

        # From another directory (the fixture's empty one): the server's database.
        missing = cli("keys", "issue", "--operator", "alpha")
        assert missing.returncode == 1 and missing.stdout == ""
        used, refused = missing.stderr.splitlines()
        assert used.startswith(f"aedgw: using the embedded database in {pg_dir} (recorded")
        assert refused == "aedgw: no operator 'alpha' (known: none yet)"
        assert not Path("var").exists(), "no database created where the command ran"
        assert cli("operators", "add", "alpha").returncode == 0
        key = cli("keys", "issue", "--operator", "alpha").stdout.strip()
        assert submit(port, key) == 202, "the server knows the key the command issued"

        # No record: nothing found here is one line and a non-zero exit, nothing created.
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "no-state"))
        nothing = cli("operators", "list")
        assert nothing.returncode == 1 and nothing.stdout == ""
        [hint] = nothing.stderr.splitlines()
        assert hint.startswith("aedgw: no gateway database found: start 'aedgw serve'")
        assert not Path("var").exists()

        # A data directory the settings give but that holds no cluster: not created either.
        elsewhere = tmp_path / "elsewhere"
        given = cli("operators", "list", env={"AEDGW_DATA_DIR": str(elsewhere)})
        assert given.returncode == 1
        assert f"no database in {elsewhere.resolve() / 'pg'}" in given.stderr
        assert not elsewhere.exists()

        # In the server's directory, ./var is found without a record.
        monkeypatch.chdir(site)
        here = cli("operators", "list", "--json")
        assert here.returncode == 0, here.stderr
        assert [o["code"] for o in orjson.loads(here.stdout)] == ["alpha"]
        assert "found in the current directory" in here.stderr
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
    assert server.returncode == 0


def test_a_port_in_use_is_one_line_naming_listen(cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli("serve", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert result.stderr == (
        f"aedgw: configuration: cannot listen on 127.0.0.1:{port}: the port is in use; "
        "choose another with --listen HOST:PORT\n"
    )
    assert not Path("var").exists(), "no database started for nothing"


def test_any_command_on_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
        result = subprocess.run(  # a process: the receiver serves with signal handlers
            [sys.executable, "-m", "gateway", "receiver", "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("aedgw: ")
    assert line.endswith("address already in use; choose another port")
