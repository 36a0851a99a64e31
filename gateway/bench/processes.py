"""The processes the bench measures: ``aedgw serve`` and the lean receiver, each on a
free port, started, waited for and stopped the way an operator of the gateway would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.bench.client import Client, request

HOST = "127.0.0.1"
STARTUP_S = 120.0


class ProcessFailed(RuntimeError):
    """A process the bench started exited or never became ready."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A started process serving HTTP on ``port``."""

    name: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def client(self, connections: int) -> Client:
        return Client(HOST, self.port, connections)

    async def get_json(self, path: str) -> Any:
        client = self.client(1)
        try:
            status, body = await client.send(request("GET", path, self.host, {}))
        finally:
            client.close()
        if status != 200:
            raise ProcessFailed(f"{self.name}: GET {path} answered {status}")
        return orjson.loads(body)


@contextlib.asynccontextmanager
async def started(name: str, command: Sequence[str], ready_path: str,
                  env: dict[str, str] | None = None, port: int | None = None
                  ) -> AsyncIterator[Server]:
    """Start ``command`` (its output goes to our stderr: stdout is the bench's result),
    wait until ``ready_path`` answers 200, and stop it with SIGTERM on the way out."""
    port = port or free_port()
    command = [arg.replace("{port}", str(port)) for arg in command]
    process = subprocess.Popen(command, env=env, stdout=2, stdin=subprocess.DEVNULL)
    server = Server(name, process, port)
    try:
        await _wait_ready(server, ready_path)
        yield server
    finally:
        _stop(process)


async def _wait_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ProcessFailed(f"{server.name} exited with {server.process.returncode}")
        with contextlib.suppress(OSError, ProcessFailed):
            await server.get_json(path)
            return
        await asyncio.sleep(0.05)
    raise ProcessFailed(f"{server.name} did not answer {path} within {STARTUP_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(database_url: str, config: Path | None, targets: list[dict[str, Any]],
          workers: int | None = None) -> contextlib.AbstractAsyncContextManager[Server]:
    """``aedgw serve`` on the bench's database, logging warnings only; ``workers`` None
    for a ``serve`` without the option (its one process)."""
    command = [sys.executable, "-m", "gateway"]
    command += ["--config", str(config)] if config else []
    command += ["serve"] + (["--workers", str(workers)] if workers else [])
    port = free_port()
    env = os.environ | {
        "AEDGW_DATABASE_URL": database_url,
        "AEDGW_LISTEN": f"{HOST}:{port}",
        "AEDGW_LOG_LEVEL": "warning",
        "AEDGW_LOG_FORMAT": "json",
        "AEDGW_TARGETS": orjson.dumps(targets).decode(),
    }
    name = "aedgw serve" + (f" --workers {workers}" if workers else "")
    return started(name, command, "/readyz", env, port)


def receiver() -> contextlib.AbstractAsyncContextManager[Server]:
    """The lean receiver of the deliver scenario."""
    command = [sys.executable, "-m", "gateway.bench.receiver", "--port", "{port}"]
    return started("the bench receiver", command, "/tally")


def serve_has_workers() -> bool:
    """Whether this gateway's ``serve`` takes ``--workers`` (it came with issue 10)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--help"],
        capture_output=True, text=True, check=False,
    ).stdout
    return "--workers" in help_text
