"""``aedgw serve --workers N``: N processes serving one port, pre-forked.

The parent binds the port, starts the embedded database and migrates (once), then runs
N workers, each a fresh ``aedgw serve`` that inherits the listening socket, so the
kernel hands each connection to whichever worker accepts first and a worker that dies
takes no queued connection with it. Every worker is a whole gateway: its own pool, its
own LISTEN connection, its own delivery workers, which share the outbox queues with the
other processes through the database (leases, ``FOR UPDATE SKIP LOCKED``). Their
metrics go to files in one directory (prometheus-client's multiprocess mode), and any
worker's ``/metrics`` shows the sum over all of them.

The parent restarts a worker that dies (waiting longer each time one dies young), and on
SIGTERM or Ctrl-C sends every worker one SIGTERM, which stops it gracefully (no new
connections, in-flight requests finished), and waits for them. Workers run in their own
process group, so a terminal's Ctrl-C reaches only the parent and each worker is told
once; a worker whose parent disappears stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from prometheus_client import multiprocess

from gateway.config import ConfigError, Settings
from gateway.logging import get_logger

log = get_logger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SOCKET_ARG = "--worker-socket"
"""Hidden ``serve`` option: the inherited listening socket's file descriptor."""
RESTART_DELAY_S = (0.5, 30.0)
"""A worker that dies young is restarted after a delay that doubles up to the maximum."""
YOUNG_S = 30.0
"""A worker that ran this long before dying is restarted at once."""
STOP_GRACE_S = 15.0
"""How much longer than the workers' own shutdown timeout the parent waits for them."""


def worker_count(value: str | None, configured: int) -> int:
    """``--workers``: a positive number, or ``auto`` for the CPUs this process may use."""
    if value is None:
        return configured
    if value == "auto":
        return len(os.sched_getaffinity(0))
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"--workers = {value!r}: a positive number, or auto")
    return int(value)


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    """Runs ``settings.workers`` worker processes until told to stop."""

    def __init__(self, settings: Settings, database_url: str, config: Path | None) -> None:
        self.settings = settings
        self.database_url = database_url
        self.count = settings.workers
        self.config = config
        self._stopping = False
        self._delay = RESTART_DELAY_S[0]

    def run(self, sock: socket.socket) -> None:
        """Until SIGTERM or SIGINT; ``sock`` is the bound listening socket (closed here)."""
        sock.set_inheritable(True)
        metrics_dir = Path(tempfile.mkdtemp(prefix="aedgw-metrics-"))
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGTERM, signal.SIGINT)}
        workers: list[_Worker] = []
        try:
            workers = [self._spawn(sock, metrics_dir) for _ in range(self.count)]
            log.info("workers_started", workers=self.count,
                     pids=[w.process.pid for w in workers], metrics_dir=str(metrics_dir))
            while not self._stopping:
                time.sleep(0.2)
                for i, worker in enumerate(workers):
                    if worker.process.poll() is None or self._stopping:
                        continue
                    workers[i] = self._replace(worker, sock, metrics_dir)
        finally:
            sock.close()  # the port stops accepting once the workers close their copies
            self._stop_all(workers)
            for s, handler in previous.items():
                signal.signal(s, handler)
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def _stop(self, signum: int, _frame: object) -> None:
        if not self._stopping:
            log.info("stopping_workers", signal=signal.Signals(signum).name)
        self._stopping = True

    def _spawn(self, sock: socket.socket, metrics_dir: Path) -> _Worker:
        env = dict(os.environ)
        env |= {
            "AEDGW_DATABASE_URL": self.database_url,
            "AEDGW_WORKERS": str(self.count),
            MULTIPROC_ENV: str(metrics_dir),
        }
        tls = self.settings.tls  # --tls-cert, --tls-key, --client-ca reach the workers too
        env |= {
            f"AEDGW_TLS__{name.upper()}": str(value)
            for name, value in (("cert", tls.cert), ("key", tls.key), ("client_ca", tls.client_ca))
            if value is not None
        }
        command = [sys.executable, "-m", "gateway"]
        if self.config is not None:
            command += ["--config", str(self.config)]
        command += ["serve", "--listen", self.settings.listen, SOCKET_ARG, str(sock.fileno())]
        process = subprocess.Popen(command, env=env, pass_fds=(sock.fileno(),),
                                   process_group=0)
        return _Worker(process)

    def _replace(self, dead: _Worker, sock: socket.socket, metrics_dir: Path) -> _Worker:
        """Start a worker in place of one that died, after a delay when it died young."""
        lived = time.monotonic() - dead.started
        log.warning("worker_died", pid=dead.process.pid, exit_code=dead.process.returncode,
                    lived_s=round(lived, 1))
        multiprocess.mark_process_dead(dead.process.pid, str(metrics_dir))
        if lived < YOUNG_S:
            deadline = time.monotonic() + self._delay
            while time.monotonic() < deadline and not self._stopping:
                time.sleep(0.1)
            self._delay = min(self._delay * 2, RESTART_DELAY_S[1])
        else:
            self._delay = RESTART_DELAY_S[0]
        worker = self._spawn(sock, metrics_dir)
        log.info("worker_restarted", pid=worker.process.pid, replaces=dead.process.pid)
        return worker

    def _stop_all(self, workers: list[_Worker]) -> None:
        """One SIGTERM each, then wait; a worker still running past the grace is killed."""
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout_s + STOP_GRACE_S
        for worker in workers:
            try:
                worker.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.error("worker_killed", pid=worker.process.pid)
                worker.process.kill()
                worker.process.wait()
        log.info("workers_stopped", workers=len(workers))


async def watch_parent(app: web.Application) -> AsyncIterator[None]:
    """Stop this worker gracefully when the supervising parent is gone (killed outright:
    it had no chance to tell us)."""
    parent = os.getppid()

    async def watch() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        log.warning("parent_gone", parent=parent)
        os.kill(os.getpid(), signal.SIGTERM)

    task = asyncio.create_task(watch(), name="watch-parent")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
