"""Turning a request body into a parsed document, safely, before any adapter sees it.

Every limit of DESIGN.md "Security" lives here: media types, gzip bombs, DOCTYPE and
entities, nesting depth, NaN and duplicate keys in JSON. A refusal is a
:class:`DocumentRefused` carrying the HTTP status, the error code and, for syntax errors,
the line and column, so that the client learns exactly what is wrong.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from lxml import etree

from gateway.codes import MessageCode

MAX_JSON_DEPTH = 64


class Kind(StrEnum):
    XML = "xml"
    JSON = "json"
    NDJSON = "ndjson"


MEDIA_TYPES: dict[str, Kind] = {
    "application/xml": Kind.XML,
    "text/xml": Kind.XML,
    "application/soap+xml": Kind.XML,
    "application/json": Kind.JSON,
    "application/x-ndjson": Kind.NDJSON,
}


class DocumentRefused(Exception):
    """The body cannot be processed at all; ``status`` is the HTTP status to answer."""

    def __init__(
        self,
        status: int,
        code: MessageCode,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.line = line
        self.column = column

    @property
    def details(self) -> dict[str, int] | None:
        if self.line is None:
            return None
        return {"line": self.line, "column": self.column or 0}


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed message: the raw bytes, the parsed form and the request metadata.

    ``root`` is the XML root element or the parsed JSON value; NDJSON stays unparsed
    (``root`` is None) and is read a line at a time with :func:`iter_ndjson`, so a bulk
    file is never held twice in memory.
    """

    kind: Kind
    raw: bytes
    media_type: str
    root: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def media_kind(content_type: str) -> tuple[str, Kind, str | None]:
    """Media type, document kind and charset of a Content-Type header, or 415."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    kind = MEDIA_TYPES.get(media)
    if kind is None:
        accepted = ", ".join(MEDIA_TYPES)
        raise DocumentRefused(
            415,
            MessageCode.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {media or '(none)'!r} is not accepted; send one of {accepted}",
        )
    match = re.search(r"charset\s*=\s*\"?([\w.:-]+)", params, re.IGNORECASE)
    return media, kind, match.group(1) if match else None


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding: gzip`` without ever holding more than ``limit`` bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        if len(body) > limit:
            raise too_large(limit)
        return body
    if encoding != "gzip":
        raise DocumentRefused(
            415,
            MessageCode.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding {encoding!r} is not accepted",
        )
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise DocumentRefused(400, MessageCode.UNPARSEABLE, f"bad gzip data: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large(limit)
    return out


def too_large(limit: int) -> DocumentRefused:
    """413 for a body over the size limit, before or after decompression."""
    return DocumentRefused(413, MessageCode.TOO_LARGE, f"body is over the limit of {limit} bytes")


def parse(raw: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> Document:
    """Parse ``raw`` as the Content-Type says; raise :class:`DocumentRefused` if it cannot."""
    media, kind, charset = media_kind(content_type)
    if kind is Kind.XML:
        root: Any = parse_xml(raw, charset)
    elif kind is Kind.JSON:
        root = loads_json(raw)
    else:
        root = None
    return Document(kind=kind, raw=raw, media_type=media, root=root, headers=headers or {})


_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _parser(encoding: str | None) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        encoding=encoding,
    )


def parse_xml(raw: bytes, charset: str | None = None) -> etree._Element:
    """Parse XML with no DTD, entities, network or huge trees.

    Encoding per RFC 7303: a BOM wins, then the HTTP charset, then the XML declaration.
    """
    if b"<!DOCTYPE" in raw[:4096] or b"<!ENTITY" in raw[:4096]:
        raise DocumentRefused(400, MessageCode.DOCTYPE_FORBIDDEN, "DOCTYPE is not allowed")
    encoding = None if raw.startswith(_BOMS) else charset
    try:
        root = etree.fromstring(raw, _parser(encoding))
    except LookupError as exc:
        raise DocumentRefused(400, MessageCode.UNPARSEABLE, f"unknown charset: {exc}") from exc
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        code = MessageCode.PARSE_LIMIT if "depth" in str(exc).lower() else MessageCode.UNPARSEABLE
        raise DocumentRefused(400, code, str(exc), line=line, column=column) from exc
    if root is None:
        raise DocumentRefused(400, MessageCode.UNPARSEABLE, "empty document", line=1, column=1)
    if root.getroottree().docinfo.doctype:
        raise DocumentRefused(400, MessageCode.DOCTYPE_FORBIDDEN, "DOCTYPE is not allowed")
    return root


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup!r}")
    return obj


_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=_unique_keys
)


def loads_json(raw: bytes | str, *, line: int | None = None) -> Any:
    """Strict JSON: numbers with a fraction become Decimal (money stays exact), NaN and
    duplicate keys are refused, nesting is limited. ``line`` offsets NDJSON positions."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        value = _DECODER.decode(text)
    except UnicodeDecodeError as exc:
        raise DocumentRefused(
            400,
            MessageCode.UNPARSEABLE,
            f"JSON must be UTF-8: {exc.reason}",
            line=line or 1,
            column=exc.start + 1,
        ) from exc
    except json.JSONDecodeError as exc:
        raise DocumentRefused(
            400, MessageCode.UNPARSEABLE, exc.msg, line=line or exc.lineno, column=exc.colno
        ) from exc
    except RecursionError:  # nested far deeper than the limit: the decoder gave up first
        raise _too_deep(line) from None
    except ValueError as exc:
        raise DocumentRefused(400, MessageCode.UNPARSEABLE, str(exc), line=line) from exc
    if _depth(value) > MAX_JSON_DEPTH:
        raise _too_deep(line)
    return value


def _too_deep(line: int | None) -> DocumentRefused:
    return DocumentRefused(
        400, MessageCode.PARSE_LIMIT, f"JSON nesting deeper than {MAX_JSON_DEPTH}", line=line
    )


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return deepest


def iter_ndjson(doc: Document) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for each non-blank line, parsing lazily."""
    for number, line in enumerate(io.BytesIO(doc.raw), start=1):
        if line.strip():
            yield number, loads_json(line, line=number)
