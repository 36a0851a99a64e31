"""The value guard (issue 8, point 1): a value that parses but that PostgreSQL or JSON
cannot hold (a NUL, a lone surrogate, a number outside its column) rejects the item that
holds it (``value_invalid``, with its path) and nothing else; in the message's reference
it refuses the message (422). Over real HTTP into a real database: before the guard these
were 500s (asyncpg's CharacterNotInRepertoireError, orjson's TypeError, an int32
overflow)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, bearer

NDJSON = {"Content-Type": "application/x-ndjson"}
DELTA = (FIXTURES / "delta" / "good_batch.ndjson").read_text().splitlines()
HEADER, FIRST, BAD, LAST = (json.loads(line) for line in DELTA)
MARK = "@@VALUE@@"

CODE_FIELDS = {("service",), ("category",)}
"""Read through a code list: a value not in it is ``code_unknown`` whatever it holds."""
UNREAD = {("currency",)}
"""The item is DOCUMENTS with no values: its currency prices nothing, so nothing of it
is stored and the item stands."""


def string_fields(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from string_fields(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from string_fields(child, (*path, index))
    elif isinstance(value, str) and path != ("type",):  # "type" tells items from the header
        yield path


STRING_FIELDS = list(string_fields(BAD))


def pointer(path: tuple[Any, ...]) -> str:
    return "/" + "/".join(str(p) for p in path)


def delta_file(file_id: str, path: tuple[Any, ...], literal: str) -> bytes:
    """The fixture under ``file_id`` with the second item's ``path`` set to the JSON
    ``literal`` (written as is: escapes and numbers exactly as a client sends them)."""
    item = json.loads(json.dumps(BAD))
    target = item
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = MARK
    lines = [HEADER | {"file_id": file_id}, FIRST, item, LAST]
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    return text.replace(json.dumps(MARK), literal).encode()


def escaped(text: str) -> str:
    """``text`` as a JSON string literal, a lone surrogate written as its escape."""
    return json.dumps(text)  # ensure_ascii: every non-ASCII character, surrogates too


UNHOLDABLE = st.sampled_from(["\x00", "\ud800", "\udfff", "\udbff"])
CONTROL = st.characters(codec=None, categories=["Cc"])
HOSTILE_TEXT = st.tuples(
    st.text(max_size=3),
    st.one_of(UNHOLDABLE, CONTROL, st.characters(categories=["Cs"])),
    st.text(max_size=3),
).map("".join)


def holds_unholdable(text: str) -> bool:
    return any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in text)


@pytest.fixture
async def delta_key(add_operator) -> str:
    return await add_operator("delta")


_FILES = itertools.count(1)


async def post(client, key: str, body: bytes) -> tuple[int, dict[str, Any]]:
    response = await client.post("/v1/messages", data=body, headers=bearer(key, **NDJSON))
    return response.status, orjson.loads(await response.read())


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(STRING_FIELDS), text=HOSTILE_TEXT)
async def test_hostile_text_in_any_string_field_rejects_that_item_alone(
    client, delta_key, path, text
) -> None:
    file_id = f"DC-20261201-{next(_FILES):04d}"
    original = BAD
    for key in path:
        original = original[key]
    sent = delta_file(file_id, path, escaped(text + original))
    status, body = await post(client, delta_key, sent)
    assert status < 500, body
    if status == 422:  # the line's schema refuses the value whole (a pattern, say)
        assert body["error"]["code"] == "schema_invalid", body
        return
    assert status == 202, body
    others = {e["index"] for e in body["errors"]} - {1}
    assert others == set(), body  # the first and last items are never touched
    assert body["items"]["received"] == 3
    if holds_unholdable(text) and path not in UNREAD:
        bad = [e for e in body["errors"] if e["index"] == 1]
        assert body["items"]["rejected"] == 1, (path, text, body)
        codes = {"value_invalid", "code_unknown"} if path in CODE_FIELDS else {"value_invalid"}
        assert {e["code"] for e in bad} <= codes, bad
        assert any(e["path"].endswith(pointer(path)) for e in bad), (pointer(path), bad)
        orjson.dumps(body)  # the receipt as sent holds nothing unholdable


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.one_of(
    st.integers(min_value=10**15, max_value=10**40).map(str),
    st.integers(min_value=1, max_value=10**6).map(lambda n: f"{n}e{15 + n % 300}"),
    st.sampled_from(["1e999999", "1E+999999", "0.0000000000000000000000000000000001"]),
))
async def test_a_number_outside_its_range_rejects_that_item_alone(
    client, delta_key, number
) -> None:
    file_id = f"DC-20261202-{next(_FILES):04d}"
    status, body = await post(client, delta_key, delta_file(file_id, ("lines", 0, "quantity"),
                                                            number))
    assert status < 500, body
    if status == 422:
        assert body["error"]["code"] == "schema_invalid", body
        return
    assert status == 202, body
    assert body["items"]["rejected"] == 1, body
    assert [(e["index"], e["code"], e["path"]) for e in body["errors"]] == [
        (1, "value_invalid", "line 3 /lines/0/quantity")
    ]


@pytest.mark.parametrize("text", ["DC\x00-0001", "DC\ud800-0001"], ids=["nul", "surrogate"])
async def test_a_reference_that_cannot_be_held_refuses_the_message(
    client, delta_key, pool, text
) -> None:
    body = delta_file("DC-20261203-0001", ("item_id",), json.dumps(BAD["item_id"]))
    body = body.replace(b'"DC-20261203-0001"', escaped(text).encode())
    status, answer = await post(client, delta_key, body)
    assert status == 422, answer
    assert answer["error"]["code"] == "value_invalid"
    assert answer["error"]["details"] == {"field": "message_ref"}
    assert await pool.fetchval("SELECT count(*) FROM records") == 0
    archived = await pool.fetchrow("SELECT raw, http_status, message_ref FROM messages")
    assert (archived["raw"], archived["http_status"], archived["message_ref"]) == (body, 422, None)


async def test_a_nul_in_a_gamma_reference_is_422(client, add_operator) -> None:
    key = await add_operator("gamma")
    raw = (FIXTURES / "gamma" / "batch-3.json").read_bytes()
    raw = raw.replace(b'"GP20261128-0001"', b'"GP2026\\u00001128-0001"')
    response = await client.post(
        "/v1/messages", data=raw, headers=bearer(key, **{"Content-Type": "application/json"})
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "value_invalid"


async def test_a_revision_outside_its_column_rejects_that_item_alone(client, add_operator) -> None:
    """Epsilon v2 states revisions; the records' revision is a PostgreSQL integer."""
    key = await add_operator("epsilon")
    raw = (FIXTURES / "epsilon" / "v2-batch.xml").read_bytes()
    raw = raw.replace(b'revision="1"', b'revision="99999999999"', 1)
    response = await client.post(
        "/v1/messages",
        data=raw,
        headers=bearer(key, **{"Content-Type": "application/soap+xml; charset=utf-8"}),
    )
    assert response.status == 202, await response.text()
    receipt = await response.json()
    assert receipt["items"]["rejected"] == 1 and receipt["items"]["accepted"] == 2, receipt
    assert [e["code"] for e in receipt["errors"]] == ["value_invalid"]
    assert "revision" in receipt["errors"][0]["message"]


async def test_an_item_id_that_cannot_be_held_is_echoed_escaped(client, delta_key, pool) -> None:
    body = delta_file("DC-20261204-0001", ("item_id",), escaped("CP6100\x00100" + "\ud800BR"))
    status, receipt = await post(client, delta_key, body)
    assert status == 202, receipt
    assert [(e["item_id"], e["code"]) for e in receipt["errors"]] == [
        ("CP6100\\u0000100\\ud800BR", "value_invalid")
    ]
    stored = orjson.loads(await pool.fetchval("SELECT receipt FROM messages"))
    assert stored["errors"] == receipt["errors"]
