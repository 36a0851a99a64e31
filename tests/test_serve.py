"""``aedgw serve`` as a user runs it: the embedded PostgreSQL in a data directory,
migrations, a real port, and a clean stop on Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(
    url: str, server: subprocess.Popen, context: ssl.SSLContext | None = None
) -> None:
    """Until ``url``/readyz answers 200; the server's output if it dies first."""
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2, context=context) as r:
                assert r.status == 200
                return
        except OSError:
            if server.poll() is not None:  # it exited: its output says why
                raise AssertionError(server.stdout.read() if server.stdout else "") from None
            assert time.monotonic() < deadline, "the gateway did not come up"
            time.sleep(0.3)


def test_serve_with_the_embedded_database_and_stop_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    env |= {"AEDGW_DATA_DIR": str(tmp_path / "var"), "AEDGW_LOG_FORMAT": "json"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        assert (tmp_path / "var" / "pg" / "postmaster.pid").exists()
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, output
    assert '"event": "stopped"' in output
    assert '"loop": "uvloop"' in output, "serve runs on uvloop, a dependency"
    assert not (tmp_path / "var" / "pg" / "postmaster.pid").exists(), "embedded server stopped"
