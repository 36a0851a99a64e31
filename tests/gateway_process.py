"""``aedgw serve`` (and other commands) as real processes, for the tests that stop, kill
and restart them: a free port, readiness over HTTP, signals, and the output on failure."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without the caller's AEDGW_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    return env | {"AEDGW_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"} | settings


class Gateway:
    """One ``aedgw serve`` process on a port of its own; ``start`` again after a stop."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int | None = None) -> None:
        self.env = env
        self.cwd = cwd
        self.port = port or free_port()
        self.process: subprocess.Popen[str] | None = None
        self.log = cwd / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gateway:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{self.port}"],
                # serve records its data directory there: the test's, not the user's
                env={"XDG_STATE_HOME": str(self.cwd / "state")} | self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        return self

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout_s: float = 90.0) -> Gateway:
        """Until /readyz answers 200 (the database is migrated and takes writes). On a
        machine shared with other tests a port can be taken meanwhile: only an answer
        after this process said it listens counts (it cannot bind a port in use)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200 and '"event": "listening"' in self.output():
                        return self
            except OSError:
                pass
            assert self.process is not None and self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"the gateway did not come up:\n{self.output()}"
            time.sleep(0.2)

    def accepts(self) -> bool:
        """Whether the port takes a new connection."""
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout_s: float = 120.0) -> int:
        """The exit status, once the process has ended."""
        assert self.process is not None
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 60.0) -> None:
    """Poll ``condition`` (a function, sync or async) until it holds; fail after
    ``timeout_s`` (a test that hangs, not a claim about speed)."""
    deadline = time.monotonic() + timeout_s
    while not await _value(condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _value(value: object) -> object:
    return await value if inspect.isawaitable(value) else value
