"""Fuzzing the live gateway from ``openapi.yaml`` with schemathesis (issue 13, point 3).

``aedgw serve`` runs in its own process on a real socket over a database holding an
operator's records and a decision. schemathesis (its command line, as a CI job would
run it) sends every operation the examples of the spec, boundary and malformed values
(the coverage phase) and generated requests (the fuzzing phase), with a fixed seed so
that a failure reproduces. It fails on any 5xx and on any response the spec does not
describe: status, media type, headers, body, a 405 without ``Allow``, an operation that
ignores a missing key.

Two of schemathesis's checks are left out, for reasons of the API, not of the gateway:
``positive_data_acceptance`` (a body the spec allows must be accepted) cannot hold for
``POST /v1/messages``, whose bodies are operators' documents that only their XSDs and
adapters can judge, nor for opaque cursors, whose every character the spec cannot pin;
``negative_data_rejection`` would require the gateway to refuse what it reads leniently
on purpose (a ``since`` without a time part, for one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson
import pytest
import pytest_asyncio
import yaml

from gateway import audit, keys, operators
from gateway.embedded import create_database
from gateway.keys import Scope
from gateway.operators import Profile
from gateway.store import create_pool
from tests.conftest import FIXTURES, TEMPLATE, with_database
from tests.test_serve import free_port, wait_ready

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"
SEED = 20261128
MAX_EXAMPLES = 60
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,missing_required_header,"
    "unsupported_method,allow_header_conformance,ignored_auth,use_after_free,"
    "ensure_resource_availability"
)


@dataclass
class Live:
    url: str
    operator_key: str
    targeting_key: str
    admin_key: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def database(admin_url: str, template_url: str) -> AsyncIterator[tuple[str, list[str]]]:
    """A database of its own, with an operator and a key of every scope."""
    name = f"aedgw_fuzz_{uuid.uuid4().hex[:12]}"
    await create_database(admin_url, name, template=TEMPLATE)
    url = with_database(admin_url, name)
    pool = await create_pool(url, max_size=1)
    try:
        actor = audit.cli_actor()
        async with pool.acquire() as conn:
            await operators.add(conn, Profile("alpha", "Alpha Post", ("alpha-itmatt",)), actor)
            issued = [
                (await keys.issue(conn, scope, subject, actor))[1]
                for scope, subject in (
                    (Scope.OPERATOR, "alpha"), (Scope.TARGETING, "cbp"), (Scope.ADMIN, "ops"),
                )
            ]
    finally:
        await pool.close()
    yield url, issued
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def live(
    database: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """``aedgw serve`` on a free port, with a message and a decision stored through it."""
    url, (operator_key, targeting_key, admin_key) = database
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    env |= {"AEDGW_DATABASE_URL": url, "AEDGW_LOG_FORMAT": "json"}
    log = tmp_path_factory.mktemp("fuzz") / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        batch = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
        call(url, "POST", "/v1/messages", operator_key, batch, "application/xml")
        decision = {"item_id": "CP471820937GB", "code": "HOLD", "reference": "R-1"}
        call(url, "POST", "/v1/decisions", targeting_key, orjson.dumps(decision))
        yield Live(url, operator_key, targeting_key, admin_key)
    finally:
        server.terminate()
        server.wait(timeout=60)


def call(url: str, method: str, path: str, key: str, body: bytes, media: str = "") -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": media or "application/json"}
    request = urllib.request.Request(url + path, body, headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201, 202)


def auth_config(live: Live, folder: Path) -> Path:
    """schemathesis settings: each operation with a key of the scope it needs; the feeds
    without a long poll (``wait`` is exercised in test_feed.py; here each of up to 30 s
    would spend the time budget waiting)."""
    operations = [
        ("^/v1/outcomes$", live.operator_key, True),
        ("^/v1/(messages|items)", live.operator_key, False),
        ("^/v1/records$", live.targeting_key, True),
        ("^/v1/(records/|decisions)", live.targeting_key, False),
        ("^/v1/(admin/|consumers)", live.admin_key, False),
    ]
    lines = []
    for pattern, key, feed in operations:
        lines += [
            "[[operations]]",
            f'include-path-regex = "{pattern}"',
            f'headers = {{ Authorization = "Bearer {key}" }}',
            *(['parameters = { "query.wait" = 0 }'] if feed else []),
            "",
        ]
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines))
    return path


def test_every_operation_survives_fuzzing_and_answers_as_documented(
    live: Live, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli",
            "--config-file", str(auth_config(live, tmp_path)),
            "run", str(SPEC), "--url", live.url,
            "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
            "--phases", "examples,coverage,fuzzing", "--checks", CHECKS,
            "--workers", "1", "--request-timeout", "40", "--no-color",
            "--report", "json", "--report-json-path", str(report),
        ],
        capture_output=True, text=True, timeout=600, check=False,
        cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    operations = orjson.loads(report.read_bytes())["operations"]
    documented = sum(
        method in {"get", "post", "put", "delete", "patch"}
        for item in yaml.safe_load(SPEC.read_text())["paths"].values()
        for method in item
    )
    assert operations["total"] == operations["tested"] == documented, operations


async def test_a_method_a_resource_lacks_is_405_with_allow(client) -> None:
    """What schemathesis found first: 405 came without Allow and as bad_request."""
    response = await client.request("PATCH", "/v1/messages")
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert (await response.json())["error"]["code"] == "method_not_allowed"
