"""Real PostgreSQL for every test: the embedded server (or ``AEDGW_DATABASE_URL``), a
template database migrated once per session, and a fresh clone of it per test."""

from __future__ import annotations

import io
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.registry import default_registry
from gateway import audit, keys, operators
from gateway.cli import main
from gateway.config import Settings, Target
from gateway.embedded import create_database, load_pgserver
from gateway.http.app import create_app
from gateway.keys import Scope
from gateway.logging import configure
from gateway.operators import Profile
from gateway.store import create_pool
from gateway.store.migrate import migrate

TEMPLATE = "aedgw_test_template"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    """The session's server. Its data lives in a folder of its own, not under pytest's
    basetemp: pytest prunes the basetemp folders of older sessions, so a second pytest
    started on the same machine would delete a running session's database."""
    external = os.environ.get("AEDGW_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="aedgw-test-pg-", ignore_cleanup_errors=True) as tmp:
        server = load_pgserver().get_server(Path(tmp) / "data", cleanup_mode="delete")
        yield server.get_uri()
        server.cleanup()


@pytest.fixture(scope="session")
async def template_url(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    finally:
        await conn.close()
    await create_database(admin_url, TEMPLATE)
    url = with_database(admin_url, TEMPLATE)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


@pytest.fixture
async def database_url(admin_url: str, template_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    name = f"aedgw_test_{uuid.uuid4().hex[:12]}"
    await create_database(admin_url, name, template=TEMPLATE)
    yield with_database(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder of the test's own outside pytest's basetemp, for what must outlive another
    pytest session starting meanwhile (which prunes older basetemp folders): the data of
    an embedded server a test runs, the logs of the processes it starts."""
    with tempfile.TemporaryDirectory(prefix="aedgw-test-", ignore_cleanup_errors=True) as tmp:
        yield Path(tmp)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, log_format="json")


Client = TestClient


@pytest.fixture
async def make_client(
    database_url: str, settings: Settings
) -> AsyncIterator[Callable[..., Awaitable[TestClient]]]:
    """Start the gateway on a real socket; call again with other settings if needed."""
    clients: list[TestClient] = []

    async def start(targets: list[Target] | None = None, **changes: object) -> TestClient:
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.targets = targets or []
        client = TestClient(TestServer(create_app(settings, database_url)))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: Callable[..., Awaitable[TestClient]]) -> TestClient:
    return await make_client()


@pytest.fixture
def add_operator(pool: asyncpg.Pool) -> Callable[..., Awaitable[str]]:
    """Register an operator (default formats from the registry) and return a key for it."""

    async def add(code: str, **profile: object) -> str:
        formats = profile.pop("formats", None) or default_registry().formats_of(code)
        async with pool.acquire() as conn:
            if await operators.get(conn, code) is None:
                await operators.add(
                    conn,
                    Profile(code=code, name=code, formats=tuple(formats), **profile),
                    audit.cli_actor(),
                )
            _, key = await keys.issue(conn, Scope.OPERATOR, code, audit.cli_actor())
        return key

    return add


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Everything logged (structlog and the stdlib, from DEBUG up) as JSON lines."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure("json", "debug")
    root.handlers[0].setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


@pytest.fixture(autouse=True)
def private_state(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Each test its own $XDG_STATE_HOME: no test reads or writes the record of the
    developer's own ``aedgw serve``."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@dataclass(frozen=True, slots=True)
class Ran:
    """What a command did: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Ran]:
    """Run ``aedgw`` in this process, as a person would in an empty directory with no
    AEDGW_* settings but those given (``database_url``, ``env``). It runs on a thread
    of its own, so async tests may call it (it needs no event loop of theirs)."""
    for name in [n for n in os.environ if n.startswith("AEDGW_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))

    def run(*args: str, database_url: str | None = None, env: dict[str, str] | None = None) -> Ran:
        out, err = (io.TextIOWrapper(io.BytesIO(), "utf-8", write_through=True) for _ in "12")
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        settings = dict(env or {})
        if database_url:
            settings["AEDGW_DATABASE_URL"] = database_url
        with monkeypatch.context() as patch:
            for name, value in settings.items():
                patch.setenv(name, value)
            with redirect_stdout(out), redirect_stderr(err), ThreadPoolExecutor(1) as thread:
                code = thread.submit(_main, list(args)).result()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        return Ran(code, out.buffer.getvalue().decode(), err.buffer.getvalue().decode())

    return run


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit:  # argparse's own exits (--help, a usage mistake)
        return int(exit.code or 0)


def bearer(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}
