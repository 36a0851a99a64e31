"""One receive path (issue 9, point 1): ``POST /v1/messages`` and ``aedgw translate``
answer a message through the same stages and the same refusal table, so that what an
operator tries offline is what the gateway answers."""

from __future__ import annotations

import pytest

from adapters.registry import default_registry
from gateway import onboarding
from gateway.ingest.receive import dry_run
from tests.conftest import FIXTURES, bearer

ALPHA = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
GAMMA = (FIXTURES / "gamma" / "batch-3.json").read_bytes()

CASES = [
    ("alpha", "application/xml", ALPHA),
    ("alpha", "application/xml", b"<ITMATT><unclosed>"),
    ("alpha", "application/xml", ALPHA.replace(b"<ItemId>", b"<Bogus/><ItemId>", 1)),
    ("alpha", "application/json", GAMMA),
    ("gamma", "application/json", GAMMA.replace(b'"GP20261128-0001"', b'"GP\\u0000"')),
    ("gamma", "application/json", GAMMA.replace(b"Emily Carter", b"Emily\\ud800Carter")),
    ("gamma", "application/json", b'{"a": 1, "a": 2}'),
]


@pytest.mark.parametrize(("operator", "content_type", "body"), CASES,
                         ids=["accepted", "unparseable", "schema", "format", "ref-nul",
                              "item-surrogate", "duplicate-key"])
async def test_translate_answers_what_the_gateway_answers(
    client, add_operator, operator, content_type, body
) -> None:
    key = await add_operator(operator)
    registry = default_registry()
    offline = dry_run(
        body, content_type, registry.candidates(onboarding.formats_of(registry, operator)),
        operator=operator,
    )
    response = await client.post(
        "/v1/messages?dry_run=true", data=body,
        headers=bearer(key, **{"Content-Type": content_type}),
    )
    answer = await response.json()
    assert response.status == offline["http_status"], (answer, offline)
    if "error" in offline:
        assert answer["error"] == offline["error"]
    else:
        translation = offline["translation"]
        assert answer["items"] | {"unchanged": 0} == translation["items"] | {"unchanged": 0}
        assert answer["errors"] == translation["errors"]
