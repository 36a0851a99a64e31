"""What the figures were measured on, and the CPU seconds each process spent.

CPU seconds per item, for the gateway, the database and the load generator separately,
say where the time goes on a machine they share; they stay meaningful on a busy machine,
where rates do not.
"""

from __future__ import annotations

import asyncio
import os
import platform
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil


def cpu_model() -> str:
    """The processor's marketing name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loop_name() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {uvloop.__version__}"


def machine(postgresql: str) -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "postgresql": postgresql,
        "loop": loop_name(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its descendants, those already reaped included (a
    database backend that exited, a gateway worker that was restarted)."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for child in children:
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:  # exited between the listing and now
            continue
        total += times.user + times.system
    return total


def own_cpu_s() -> float:
    """This process alone: the load generator (its reaped children are the gateway)."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def postmaster_of(backend_pid: int) -> int | None:
    """The PostgreSQL server process that a connection's backend belongs to, when it runs
    on this machine (a remote server's CPU is not ours to measure)."""
    try:
        backend = psutil.Process(backend_pid)
        parent = backend.parent()
        if parent is not None and "postgres" in parent.name() and "postgres" in backend.name():
            return parent.pid
    except psutil.Error:
        pass
    return None


class CpuMeter:
    """CPU seconds of named processes between two moments."""

    def __init__(self, sources: Mapping[str, Callable[[], float]]) -> None:
        self.sources = dict(sources)
        self.start = self.read()

    def read(self) -> dict[str, float]:
        return {name: read() for name, read in self.sources.items()}

    def per_item(self, items: int) -> dict[str, float]:
        """CPU seconds per item of each process since the meter was made."""
        now = self.read()
        return {
            name: round((now[name] - self.start[name]) / items, 7) if items else 0.0
            for name in self.sources
        }


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's when installed (a cheaper load generator), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def reset_peak_rss(pid: int) -> bool:
    """Start the kernel's peak-RSS count of ``pid`` afresh (Linux: clear_refs 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory (VmHWM) in MB, where the kernel tells it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
