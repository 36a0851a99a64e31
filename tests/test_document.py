"""Safe parsing: encodings, DOCTYPE, JSON strictness, gzip limits, media types."""

from __future__ import annotations

import gzip
from decimal import Decimal

import pytest

from gateway.codes import MessageCode
from gateway.document import (
    Document,
    DocumentRefused,
    Kind,
    decompress,
    iter_ndjson,
    loads_json,
    media_kind,
    parse,
    parse_xml,
)


def refused(call, *args) -> DocumentRefused:
    with pytest.raises(DocumentRefused) as info:
        call(*args)
    return info.value


def test_media_types_and_charset() -> None:
    assert media_kind("application/xml; charset=ISO-8859-1") == (
        "application/xml",
        Kind.XML,
        "ISO-8859-1",
    )
    assert media_kind("Application/JSON")[1] is Kind.JSON
    assert media_kind("application/x-ndjson")[1] is Kind.NDJSON
    assert refused(media_kind, "text/plain").status == 415
    assert refused(media_kind, "").code is MessageCode.UNSUPPORTED_MEDIA_TYPE


def test_xml_encoding_order_bom_then_http_charset_then_declaration() -> None:
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><a>José</a>'.encode("latin-1")
    assert parse_xml(latin).text == "José"  # the declaration
    no_decl = "<a>Muñoz</a>".encode("latin-1")
    assert parse_xml(no_decl, "ISO-8859-1").text == "Muñoz"  # the HTTP charset
    bom = b"\xef\xbb\xbf" + '<?xml version="1.0"?><a>ü</a>'.encode()
    assert parse_xml(bom, "ISO-8859-1").text == "ü"  # the BOM wins over the charset


def test_xml_drops_indentation_but_keeps_every_value() -> None:
    root = parse_xml(b"<a>\n  <b> x </b>\n  <c>   </c>\n  <d/><e>\n <f>1</f></e>\n</a>")
    assert root.text is None and root[3].text is None
    assert [child.text for child in root.iter()][1:] == [" x ", "   ", None, None, "1"]
    assert all(child.tail is None for child in root.iter())
    assert [child.sourceline for child in root] == [2, 3, 4, 4]


def test_unparseable_xml_has_line_and_column() -> None:
    error = refused(parse_xml, b"<a>\n  <b>\n</a>")
    assert (error.status, error.code) == (400, MessageCode.UNPARSEABLE)
    assert error.details == {"line": 3, "column": error.column}
    assert error.column and error.column > 0


def test_doctype_and_entities_are_refused() -> None:
    error = refused(parse_xml, b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')
    assert error.code is MessageCode.DOCTYPE_FORBIDDEN
    external = b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>'
    assert refused(parse_xml, external).code is MessageCode.DOCTYPE_FORBIDDEN


def test_deep_xml_is_a_parse_limit() -> None:
    deep = b"<a>" * 300 + b"</a>" * 300
    assert refused(parse_xml, deep).status == 400


def test_json_is_strict_and_exact() -> None:
    assert loads_json(b'{"amount": 30.50}') == {"amount": Decimal("30.50")}
    assert refused(loads_json, b'{"a": NaN}').code is MessageCode.UNPARSEABLE
    dup = refused(loads_json, b'{"a": 1, "a": 2}')
    assert "duplicate key 'a'" in dup.message
    error = refused(loads_json, b'{\n "a": }')
    assert (error.line, error.column) == (2, 7)
    deep = b"[" * 100 + b"]" * 100
    assert refused(loads_json, deep).code is MessageCode.PARSE_LIMIT
    assert refused(loads_json, b"\xff\xfe").code is MessageCode.UNPARSEABLE


def test_ndjson_lines_are_read_lazily_with_line_numbers() -> None:
    doc = Document(Kind.NDJSON, b'{"a": 1}\n\n{"b": 2}\n{"c": \n', "application/x-ndjson")
    lines = iter_ndjson(doc)
    assert next(lines) == (1, {"a": 1})
    assert next(lines) == (3, {"b": 2})
    error = refused(next, lines)
    assert error.line == 4


def test_gzip_is_inflated_within_the_limit() -> None:
    body = b"<a/>" * 100
    assert decompress(gzip.compress(body), "gzip", 1000) == body
    assert refused(decompress, gzip.compress(body), "gzip", 399).status == 413
    assert refused(decompress, body, None, 399).status == 413
    assert refused(decompress, b"not gzip", "gzip", 1000).status == 400
    assert refused(decompress, body, "br", 1000).status == 415


def gzip_refusal(body: bytes) -> tuple[int, str, object]:
    error = refused(decompress, body, "gzip", 10**6)
    return error.status, error.code, error.details


def test_gzip_inflates_every_member() -> None:
    """RFC 1952 allows several members; the first one alone lost the rest of the body."""
    body = gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"b": 2}\n')
    assert decompress(body, "gzip", 1000) == b'{"a": 1}\n{"b": 2}\n'
    assert decompress(body + b"\0" * 8, "gzip", 1000) == b'{"a": 1}\n{"b": 2}\n'  # padding


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (lambda z: z[: len(z) // 2], "truncated"),  # inside the deflate data
        (lambda z: z[:6], "truncated"),  # inside the header
        (lambda z: z[:-8], "trailer"),  # deflate data whole, no trailer
        (lambda z: z[:-3], "trailer"),  # half a trailer
        (lambda z: z[:-8] + (int.from_bytes(z[-8:-4], "little") ^ 1).to_bytes(4, "little")
         + z[-4:], "crc"),
        (lambda z: z[:-4] + (len(PROSE) + 1).to_bytes(4, "little"), "crc"),  # size
        (lambda z: z + b"junk", "header"),  # not another member
        (lambda z: z[:10] + bytes([z[10] ^ 0xFF]) + z[11:], "data"),
        (lambda z: b"", "truncated"),
    ],
    ids=["truncated-data", "truncated-header", "no-trailer", "half-trailer", "crc", "size",
         "garbage-after", "corrupt-data", "empty"],
)
def test_a_gzip_stream_not_read_whole_is_400_with_the_reason(cut, reason) -> None:
    assert gzip_refusal(cut(gzip.compress(PROSE))) == (
        400, MessageCode.UNPARSEABLE, {"encoding": "gzip", "reason": reason}
    )


PROSE = b"".join(b"line %d of a document that compresses\n" % n for n in range(2000))


def test_parse_keeps_headers_and_kind() -> None:
    doc = parse(b"[]", "application/json", {"X-Message-Ref": "r"})
    assert (doc.kind, doc.root, doc.headers["X-Message-Ref"]) == (Kind.JSON, [], "r")
