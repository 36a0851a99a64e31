"""The hostile corpus (issue 13, point 4): for every operator format, documents built from
its own good fixture that try to hurt the gateway, sent over a real socket into a real
database. Each gets a 4xx or reaches item processing (accepted or an item rejection),
the server keeps serving, and nothing else is lost: the good records stay, refused
messages store no record, and no log line is forged.

The cases: XXE, billion laughs, quadratic blow-up (XML formats); nesting far over the
limit (XML and JSON: ``parse_limit``); a gzip bomb; truncated documents; invalid and
mixed encodings; and, inside otherwise valid envelopes, log injection and SQL-looking
strings, which must be stored as the text they are.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import asyncpg
import orjson
import pytest
from lxml import etree

from tests.conftest import FIXTURES, bearer

AED_ERROR = "{urn:aed-gateway:error:1}"


@dataclass(frozen=True)
class Format:
    """One operator format: a good fixture and where in it hostile text can go."""

    operator: str
    fixture: str
    content_type: str
    item_id: str
    """The first item, whose addressee's name is :attr:`name`."""
    name: str
    ref: str
    """The message reference: each hostile variant gets its own (other bytes under a
    used reference are a 409 ``message_ref_reused`` whatever the Idempotency-Key)."""
    headers: dict[str, str] = field(default_factory=dict)
    revisions: bool = False
    """Explicit revisions (epsilon v2): a changed resend of revision 1 is a conflict."""

    @property
    def raw(self) -> bytes:
        return (FIXTURES / self.operator / self.fixture).read_bytes()

    def fresh_ref(self, number: int) -> str:
        """Another reference of the same shape (the schemas hold references to one)."""
        return self.ref[:-2] + f"{10 + number:02d}"

    @property
    def kind(self) -> str:
        return "ndjson" if "ndjson" in self.content_type else (
            "json" if "json" in self.content_type else "xml"
        )

    @property
    def encoding(self) -> str:
        return "latin-1" if "8859-1" in self.content_type else "utf-8"

    def with_name(self, text: str) -> bytes:
        """The fixture with the first addressee's name replaced by ``text``."""
        if self.kind == "xml":
            quoted = escape(text).replace("\n", "&#10;").replace("\r", "&#13;")
        else:
            quoted = json.dumps(text)[1:-1]
        raw = self.raw.decode(self.encoding)
        assert self.name in raw
        return raw.replace(self.name, quoted, 1).encode(self.encoding)


FORMATS = [
    Format("alpha", "v11-batch-3.xml", "application/xml", "CP471820937GB", "Daniel Okafor",
           "ALPHA-20261128-0001"),
    Format("alpha", "v8-batch.xml", "application/xml", "CP391277409GB", "Sofia Marino",
           "ALPHA-20261128-0004"),
    Format(
        "beta", "batch.xml", "application/xml; charset=ISO-8859-1", "CP261101017ES",
        "Emily Carter", "BETA-20261128-0001", {"X-Message-Ref": "BETA-20261128-0001"},
    ),
    Format("gamma", "batch-3.json", "application/json", "EA281100112CN", "Emily Carter",
           "GP20261128-0001"),
    Format("delta", "good_batch.ndjson", "application/x-ndjson", "CP610010012BR", "Emily Johnson",
           "DC-20261128-0001"),
    Format(
        "epsilon", "v1-batch.xml", "text/xml; charset=utf-8", "CP261128010TR", "Jonas Becker",
        "EPS-20261128-0001", {"SOAPAction": '"urn:epsilon:aed:1#SubmitItems"'},
    ),
    Format(
        "epsilon", "v2-batch.xml", "application/soap+xml; charset=utf-8", "UA261128045TR",
        "Emily Carter", "EPS-20261128-0002", revisions=True,
    ),
]

# --- the documents --------------------------------------------------------------------

XXE = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
LAUGHS = "<!DOCTYPE x [<!ENTITY l0 \"ha\">" + "".join(
    f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
) + "]>"
QUADRATIC = f'<!DOCTYPE x [<!ENTITY q "{"Q" * 50_000}">]>'


MARK = "@@HOSTILE@@"
"""Put in a name first, then replaced by what the format's escaping would not allow."""


def with_doctype(fmt: Format, doctype: str, entity: str) -> bytes:
    """The fixture with a DOCTYPE after its XML declaration and the entity in a name."""
    raw = fmt.with_name(MARK).decode(fmt.encoding)
    head, _, rest = raw.partition("?>")
    return (head + "?>" + doctype + rest).replace(MARK, entity).encode(fmt.encoding)


def deep(fmt: Format, depth: int) -> bytes:
    """A name nested ``depth`` levels deep, inside the valid envelope."""
    raw = fmt.with_name(MARK)
    if fmt.kind == "xml":
        return raw.replace(MARK.encode(), b"<n>" * depth + b"deep" + b"</n>" * depth)
    return raw.replace(f'"{MARK}"'.encode(), b"[" * depth + b"]" * depth)


def truncated(fmt: Format) -> bytes:
    raw = fmt.raw
    return raw[: len(raw) // 2]


def mixed_encoding(fmt: Format) -> bytes:
    """A name in Latin-1 bytes inside a UTF-8 document (for Latin-1 beta: the same body
    announced as UTF-8, which its accented names are not)."""
    if fmt.encoding == "latin-1":
        return fmt.raw
    return fmt.with_name(MARK).replace(MARK.encode(), "José Muñoz".encode("latin-1"))


def utf16(fmt: Format) -> bytes:
    """The document in UTF-16 (no BOM) while the request says UTF-8: XML whose
    Content-Type names the charset must be read in it (RFC 7303), and JSON is UTF-8."""
    return fmt.raw.decode(fmt.encoding).encode("utf-16-le")


def as_text(fmt: Format, text: str) -> str:
    """``text`` less what the format cannot carry at all: XML 1.0 has no escape
    character even as a reference, Latin-1 no line separator."""
    if fmt.kind == "xml":
        text = text.replace("\u001b", "")
    return text.encode(fmt.encoding, "ignore").decode(fmt.encoding)


GZIP_BOMB = gzip.compress(b"\x00" * (80 * 2**20), compresslevel=9)  # 80 MiB over the 64 MiB
LOG_INJECTION = (
    'Eve\n{"event": "forged", "level": "critical", "request_id": "x"}\r\n'
    "\u2028\u001b[31mred\u001b[0m Okafor"
)
SQL_LOOKING = "Robert'); DROP TABLE records; -- \" OR 1=1 -- $1 \\x00 %s ;SELECT pg_sleep(30)"


@dataclass(frozen=True)
class Case:
    name: str
    body: Callable[[Format], bytes]
    status: int
    code: str | None
    """The error code of a refusal; None when the message reaches item processing."""
    kinds: tuple[str, ...] = ("xml", "json", "ndjson")
    headers: Callable[[Format], dict[str, str]] = lambda _fmt: {}


CASES = [
    Case("xxe", lambda f: with_doctype(f, XXE, "&xxe;"), 400, "doctype_forbidden", ("xml",)),
    Case("billion laughs", lambda f: with_doctype(f, LAUGHS, "&l9;"), 400, "doctype_forbidden",
         ("xml",)),
    Case("quadratic blow-up", lambda f: with_doctype(f, QUADRATIC, "&q;" * 2000), 400,
         "doctype_forbidden", ("xml",)),
    Case("nesting over the limit", lambda f: deep(f, 300), 400, "parse_limit"),
    Case("nesting far over the limit", lambda f: deep(f, 100_000), 400, "parse_limit"),
    Case("gzip bomb", lambda _f: GZIP_BOMB, 413, "too_large",
         headers=lambda _f: {"Content-Encoding": "gzip"}),
    Case("truncated", truncated, 400, "unparseable"),
    Case("mixed encodings", mixed_encoding, 400, "unparseable",
         headers=lambda f: {"Content-Type": f.content_type.split(";")[0] + "; charset=utf-8"}),
    Case("UTF-16 announced as UTF-8", utf16, 400, "unparseable",
         headers=lambda f: {"Content-Type": f.content_type.split(";")[0] + "; charset=utf-8"}),
    Case("log injection", lambda f: f.with_name(as_text(f, LOG_INJECTION)), 202, None),
    Case("SQL-looking strings", lambda f: f.with_name(SQL_LOOKING.replace("\\x00", "NUL")),
         202, None),
]


def error_code(status: int, content_type: str, body: bytes) -> str | None:
    """The error code of a JSON error or of a SOAP Fault (what SOAP senders get)."""
    if status < 400:
        return None
    if "json" in content_type:
        return orjson.loads(body)["error"]["code"]
    return etree.fromstring(body).find(f".//{AED_ERROR}code").text


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f"{f.operator}-{f.fixture}")
async def test_hostile_documents_get_a_4xx_or_reach_item_processing(
    client, add_operator, pool: asyncpg.Pool, fmt: Format, json_logs: io.StringIO
) -> None:
    key = await add_operator(fmt.operator)
    await run_corpus(client, key, pool, fmt)
    text = json_logs.getvalue()
    lines = [orjson.loads(line) for line in text.splitlines()]  # each one JSON
    assert not [line for line in lines if line.get("event") == "forged"]
    assert "DROP TABLE" not in text and "Eve" not in text


async def run_corpus(client, key: str, pool: asyncpg.Pool, fmt: Format) -> None:
    sent_count = 0

    async def submit(body: bytes, **headers: str) -> tuple[int, str | None, bytes]:
        nonlocal sent_count
        sent = {"Content-Type": fmt.content_type, **fmt.headers, **headers,
                "Idempotency-Key": uuid.uuid4().hex}
        if sent_count:  # the variants, each under its own reference
            ref = fmt.fresh_ref(sent_count)
            body = body.replace(fmt.ref.encode(), ref.encode(), 1)
            if "X-Message-Ref" in sent:
                sent["X-Message-Ref"] = ref
        sent_count += 1
        response = await client.post("/v1/messages", data=body, headers=bearer(key, **sent))
        raw = await response.read()
        return response.status, error_code(response.status, response.content_type, raw), raw

    status, _, _ = await submit(fmt.raw)
    assert status == 202
    good = await pool.fetch("SELECT record_id, body FROM records ORDER BY seq")

    for case in CASES:
        if fmt.kind not in case.kinds:
            continue
        records_before = await pool.fetchval("SELECT count(*) FROM records")
        status, code, raw = await submit(case.body(fmt), **case.headers(fmt))
        assert (status, code) == (case.status, case.code), (case.name, raw[:300])
        if code is not None:  # refused whole: nothing of it stored
            assert await pool.fetchval("SELECT count(*) FROM records") == records_before
        else:
            await check_item_processing(client, key, pool, fmt, case, orjson.loads(raw))
        assert (await client.get("/healthz")).status == 200, case.name

    for row in good:  # the good records are all still there, unchanged
        body = await pool.fetchval("SELECT body FROM records WHERE record_id = $1",
                                   row["record_id"])
        assert body == row["body"]


async def check_item_processing(client, key, pool, fmt: Format, case: Case, receipt) -> None:
    """The hostile text reached the items: stored as sent, or the item was rejected."""
    if fmt.revisions:  # a changed resend of revision 1: rejected by the amendment rules
        assert {e["code"] for e in receipt["errors"]} == {"revision_conflict"}, receipt
        return
    assert receipt["items"]["accepted"] >= 1, receipt
    response = await client.get(f"/v1/items/{fmt.item_id}", headers=bearer(key))
    latest = (await response.json())["latest"]
    stored = latest["addressee"]["name"]
    if case.name == "SQL-looking strings":
        assert stored == SQL_LOOKING.replace("\\x00", "NUL")
    else:
        assert "forged" in stored and "Okafor" in stored
    assert await pool.fetchval("SELECT to_regclass('records') IS NOT NULL")


VALUE_CASES = [
    pytest.param(fmt, text, id=f"{name}-{fmt.operator}-{fmt.fixture}")
    for fmt in FORMATS
    for name, text in (("nul", "Eve\x00Okafor"), ("lone-surrogate", "Eve\ud800Okafor"))
]


@pytest.mark.parametrize(("fmt", "text"), VALUE_CASES)
async def test_nul_and_lone_surrogates_in_values(client, add_operator, fmt: Format, text: str):
    """XML cannot carry them at all (400); in JSON they are valid escapes that no
    PostgreSQL text can hold: the item is rejected with value_invalid, never a 500."""
    key = await add_operator(fmt.operator)
    if fmt.kind == "xml":
        codepoint = f"&#x{ord(text[3]):X};".encode()
        body = fmt.with_name(MARK).replace(MARK.encode(), b"Eve" + codepoint + b"Okafor")
    else:
        body = fmt.with_name(text)
    headers = {"Content-Type": fmt.content_type, **fmt.headers}
    response = await client.post("/v1/messages", data=body, headers=bearer(key, **headers))
    raw = await response.read()
    code = error_code(response.status, response.content_type, raw)
    if fmt.kind == "xml":
        assert (response.status, code) == (400, "unparseable"), raw[:300]
        return
    assert response.status == 202, raw[:300]
    receipt = orjson.loads(raw)
    assert [(e["item_id"], e["code"]) for e in receipt["errors"]] == [
        (fmt.item_id, "value_invalid")
    ]
