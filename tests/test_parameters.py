"""Path, query and decision body values that PostgreSQL cannot hold, or that no
identifier has, are a 400 ``bad_request`` naming the parameter; never a 500. Every route
declares its query parameters and refuses any other."""

from __future__ import annotations

import re
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from gateway import keys
from gateway.http.params import declared
from gateway.keys import Scope
from tests.conftest import FIXTURES, bearer

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
JSON = {"Content-Type": "application/json"}


async def issue(pool: asyncpg.Pool, scope: Scope, subject: str) -> str:
    async with pool.acquire() as conn:
        return (await keys.issue(conn, scope, subject))[1]


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

def endpoints(client: TestClient) -> list[tuple[str, str, frozenset[str], list[str]]]:
    """(method, path template, declared query parameters, path parameters) of every
    route the gateway serves."""
    found = []
    for route in client.app.router.routes():
        if route.method == "HEAD":
            continue
        template = route.resource.canonical
        found.append((route.method, template, declared(route.handler),
                      re.findall(r"\{(\w+)\}", template)))
    return found


async def pick_key(client: TestClient, keyring, method: str, path: str) -> str:
    """The first key the endpoint does not refuse as unauthorized or forbidden."""
    for key in keyring.values():
        response = await client.request(method, path, headers=bearer(key))
        if response.status not in (401, 403):
            return key
    raise AssertionError(f"no key opens {method} {path}")


async def test_an_unknown_query_parameter_is_400_on_every_endpoint(client, keyring) -> None:
    routes = endpoints(client)
    assert len(routes) >= 12
    for method, template, _, path_params in routes:
        path = template.format(**{name: "X" for name in path_params})
        key = await pick_key(client, keyring, method, path)
        response = await client.request(method, f"{path}?afer=1", headers=bearer(key))
        assert response.status == 400, (method, template)
        error = (await response.json())["error"]
        assert (error["code"], error["details"]) == ("bad_request", {"parameter": "afer"})


# -- hostile values anywhere: never a 5xx -----------------------------------------------

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


ROUTES = [
    ("POST", "/v1/messages"), ("GET", "/v1/messages/{message_id}"),
    ("GET", "/v1/items/{item_id}"), ("GET", "/v1/outcomes"), ("POST", "/v1/decisions"),
    ("GET", "/v1/records"), ("GET", "/v1/records/{item_id}"),
    ("GET", "/v1/admin/deadletters"), ("POST", "/v1/admin/deadletters/replay"),
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
]


async def test_the_property_tests_cover_every_route(client) -> None:
    served = {(m, t) for m, t, _, _ in endpoints(client)}
    assert served <= set(ROUTES), f"add these to ROUTES: {sorted(served - set(ROUTES))}"


BODIES = {
    "/v1/messages": (BATCH, {"Content-Type": "application/xml"}),
    "/v1/decisions": (b'{"item_id": "CP471820937GB", "code": "HOLD", "reference": "R"}', JSON),
    "/v1/admin/deadletters/replay": (b'{"limit": 1}', JSON),
}


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {t}" for m, t in ROUTES])
@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_hostile_parameters_never_get_a_5xx(client, keyring, method, template, data):
    [(_, _, accepted, path_params)] = [
        r for r in endpoints(client) if (r[0], r[1]) == (method, template)
    ]
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
        if response.status == 400:
            error = (await response.json())["error"]
            assert error["code"] in ("bad_request", "unparseable"), error
