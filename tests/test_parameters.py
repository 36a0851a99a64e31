"""Path, query and decision body values that PostgreSQL cannot hold, or that no
identifier has, are a 400 ``bad_request`` naming the parameter; never a 500. Every route
declares its query parameters and refuses any other."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from gateway import audit, keys, operators
from gateway.config import Settings
from gateway.embedded import create_database
from gateway.http.app import create_app
from gateway.http.params import declared
from gateway.keys import Scope
from gateway.operators import Profile
from tests.conftest import FIXTURES, TEMPLATE, bearer, with_database

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
JSON = {"Content-Type": "application/json"}


async def issue(pool: asyncpg.Pool, scope: Scope, subject: str) -> str:
    async with pool.acquire() as conn:
        return (await keys.issue(conn, scope, subject, audit.cli_actor()))[1]


def encoded(value: str) -> str:
    """Percent-encoded UTF-8; a lone surrogate as the bytes a careless client sends."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


async def raw_get(client: TestClient, path: str, key: str, **query: str):
    """GET with the path and query sent byte for byte as given (no client re-encoding)."""
    qs = "&".join(f"{encoded(k)}={encoded(v)}" for k, v in query.items())
    url = URL(f"{str(client.make_url('')).rstrip('/')}{path}{'?' + qs if qs else ''}",
              encoded=True)
    async with client.session.get(url, headers=bearer(key)) as response:
        return response.status, await response.json()


@pytest.fixture
async def keyring(pool: asyncpg.Pool, add_operator) -> dict[Scope | None, str]:
    return {
        Scope.OPERATOR: await add_operator("alpha"),
        Scope.TARGETING: await issue(pool, Scope.TARGETING, "cbp"),
        Scope.ADMIN: await issue(pool, Scope.ADMIN, "ops"),
        None: "none",
    }


# -- the holes the review found --------------------------------------------------------

@pytest.mark.parametrize(
    ("scope", "path", "query", "parameter"),
    [
        (Scope.OPERATOR, "/v1/items/A%00B", {}, "item_id"),
        (Scope.TARGETING, "/v1/records/%00", {}, "item_id"),
        (Scope.TARGETING, "/v1/records/RR287043775IN", {"operator": "al\x00pha"}, "operator"),
        (Scope.ADMIN, "/v1/admin/deadletters", {"target": "\x00"}, "target"),
        (Scope.ADMIN, "/v1/admin/deadletters", {"after": "99999999999999999999"}, "after"),
        (Scope.ADMIN, "/v1/admin/deadletters", {"code": "\x1b[2J"}, "code"),
        (Scope.OPERATOR, "/v1/messages/%0A", {}, "message_id"),
        (Scope.OPERATOR, "/v1/outcomes", {"after": "\ud800"}, "after"),
    ],
)
async def test_unusable_path_and_query_values_are_400_naming_them(
    client, keyring, scope, path, query, parameter
) -> None:
    status, body = await raw_get(client, path, keyring[scope], **query)
    assert status == 400, body
    assert body["error"]["code"] == "bad_request"
    assert body["error"]["details"] == {"parameter": parameter}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"revision": 99999999999}, "revision"),
        ({"revision": 2**31}, "revision"),
        ({"revision": 1.0}, "revision"),
        ({"revision": True}, "revision"),
        ({"item_id": "CP471820937GB\u0000"}, "item_id"),
        ({"reference": "IE3Q01\ud800"}, "reference"),
        ({"operator": "alpha\x07"}, "operator"),
        ({"reason": "high risk\x00"}, "reason"),
        ({"reason": "x" * 1001}, "reason"),
    ],
)
async def test_unusable_decision_fields_are_400_naming_them(client, keyring, change, field):
    import json

    decision = {"item_id": "CP471820937GB", "code": "HOLD", "reference": "R-1"} | change
    body = json.dumps(decision).encode()  # json writes a lone surrogate as an escape
    response = await client.post(
        "/v1/decisions", data=body, headers=bearer(keyring[Scope.TARGETING], **JSON)
    )
    answer = await response.json()
    assert response.status == 400, answer
    assert answer["error"]["code"] == "bad_request"
    assert answer["error"]["details"] == {"field": field}


async def test_a_reason_may_span_lines(client, keyring, add_operator) -> None:
    await client.post(
        "/v1/messages", data=BATCH,
        headers=bearer(keyring[Scope.OPERATOR], **{"Content-Type": "application/xml"}),
    )
    decision = {"item_id": "CP471820937GB", "code": "HOLD", "reference": "R-1",
                "reason": "line one\r\n\tline two"}
    response = await client.post(
        "/v1/decisions", json=decision, headers=bearer(keyring[Scope.TARGETING])
    )
    assert response.status == 201
    assert (await response.json())["reason"] == decision["reason"]


async def test_unusable_replay_filters_are_400_naming_them(client, keyring) -> None:
    for body, field in (
        (b'{"target": "cbp\\u0000"}', "target"),
        (b'{"limit": 1e400}', "limit"),
        (b'{"limit": "5"}', "limit"),
        (b'{"taget": "cbp"}', "taget"),
    ):
        response = await client.post(
            "/v1/admin/deadletters/replay", data=body, headers=bearer(keyring[Scope.ADMIN])
        )
        answer = await response.json()
        assert response.status == 400, (body, answer)
        assert answer["error"]["details"] == {"field": field}, body


# -- strict query parameters on every endpoint ------------------------------------------

def endpoints(app: web.Application) -> list[tuple[str, str, frozenset[str], list[str]]]:
    """(method, path template, declared query parameters, path parameters) of every
    route the gateway serves."""
    found = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        template = route.resource.canonical
        found.append((route.method, template, declared(route.handler),
                      re.findall(r"\{(\w+)\}", template)))
    return found


ENDPOINTS = endpoints(create_app(Settings(), "postgresql://never-connected/"))
"""Every route of the app, read from an app that is built but never started."""


async def test_an_unknown_query_parameter_is_400_on_every_endpoint(client) -> None:
    assert len(ENDPOINTS) >= 12
    for method, template, _, path_params in ENDPOINTS:
        path = template.format(**{name: "X" for name in path_params})
        # refused before anything else, the key included
        response = await client.request(method, f"{path}?afer=1", allow_redirects=False)
        assert response.status == 400, (method, template)
        error = (await response.json())["error"]
        assert (error["code"], error["details"]) == ("bad_request", {"parameter": "afer"})


async def test_a_path_no_route_serves_is_404_whatever_its_parameters(client) -> None:
    response = await client.get("/v1/nothing-here?afer=1")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


# -- hostile values anywhere: never a 5xx -----------------------------------------------

@pytest.fixture(scope="module")
async def gateway_for_all(
    admin_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[TestClient, dict[Scope | None, str]]]:
    """One gateway (and database) for every route's property test: examples only read,
    or store messages that change nothing the next example relies on."""
    name = f"aedgw_test_{uuid.uuid4().hex[:12]}"
    await create_database(admin_url, name, template=TEMPLATE)
    url = with_database(admin_url, name)
    conn = await asyncpg.connect(url)
    try:
        await operators.add(conn, Profile("alpha", "alpha", ("alpha-itmatt",)), audit.cli_actor())
        keyring: dict[Scope | None, str] = {
            scope: (await keys.issue(conn, scope, subject, audit.cli_actor()))[1]
            for scope, subject in ((Scope.OPERATOR, "alpha"), (Scope.TARGETING, "cbp"),
                                   (Scope.ADMIN, "ops"))
        }
    finally:
        await conn.close()
    keyring[None] = "none"
    settings = Settings(data_dir=tmp_path_factory.mktemp("var"), log_format="json")
    client = TestClient(TestServer(create_app(settings, url)))
    await client.start_server()
    yield client, keyring
    await client.close()
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


KNOWN_BAD = st.sampled_from([
    "", " ", "\x00", "A\x00B", "\ud800", "\udfff", "\x1b[31m", "\n", "\r\n", "\t",
    "\x7f", "\u0085", "\ufeff", "%00", "..", "/", "?", "&", "=", "#",
    "99999999999", str(2**31), str(2**63), "-1", "-0", "1e309", "nan", "inf",
    "0x10", "1_000", "9" * 5000, "true", "banana",
])
HOSTILE = st.one_of(
    KNOWN_BAD,  # drawn about half the time: the values that broke the gateway before
    KNOWN_BAD,
    KNOWN_BAD,
    KNOWN_BAD,
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(categories=["Cc", "Cs", "Zs", "Lu", "Nd", "Po"]), max_size=20),
    st.text(max_size=40),
)


BODIES = {
    "/v1/messages": (BATCH, {"Content-Type": "application/xml"}),
    "/v1/decisions": (b'{"item_id": "CP471820937GB", "code": "HOLD", "reference": "R"}', JSON),
    "/v1/admin/deadletters/replay": (b'{"limit": 1}', JSON),
}


@pytest.mark.parametrize(
    ("method", "template", "accepted", "path_params"), ENDPOINTS,
    ids=[f"{m} {t}" for m, t, _, _ in ENDPOINTS],
)
@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_hostile_parameters_never_get_a_5xx(
    gateway_for_all, method, template, accepted, path_params, data
):
    client, keyring = gateway_for_all
    path = template
    for name in path_params:
        path = path.replace(f"{{{name}}}", encoded(data.draw(HOSTILE, label=name)))
    names = data.draw(st.lists(st.sampled_from([*sorted(accepted), "afer"]), unique=True))
    query = "&".join(f"{encoded(n)}={encoded(data.draw(HOSTILE, label=n))}" for n in names)
    key = keyring[data.draw(st.sampled_from(list(keyring)), label="scope")]
    body, headers = BODIES.get(template, (None, {}))
    url = URL(f"{str(client.make_url('')).rstrip('/')}{path}?{query}", encoded=True)
    async with client.session.request(
        method, url, data=body, headers=bearer(key, **headers)
    ) as response:
        assert response.status < 500, (method, path, query, await response.text())
        if response.status == 400 and response.content_type == "application/json":
            error = (await response.json())["error"]
            assert error["code"] in ("bad_request", "unparseable"), error
