"""Local servers for the commands that run the gateway in-process (bench, demo): an
aiohttp app on a free port, and a throwaway embedded database."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from gateway import config
from gateway.embedded import embedded_server


async def start_site(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Serve ``app`` (on a free port by default); the runner (to clean up) and base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://{host}:{port}"


@contextlib.contextmanager
def scratch_database(settings: config.Settings, prefix: str) -> Iterator[str]:
    """``AEDGW_DATABASE_URL`` when set, else an embedded server in a temporary folder."""
    if settings.database_url:
        yield settings.database_url
        return
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
        embedded_server(Path(tmp) / "pg") as url,
    ):
        yield url
