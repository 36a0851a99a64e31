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
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self._details = details

    @property
    def details(self) -> dict[str, Any] | None:
        if self._details is not None:
            return self._details
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
    """Undo ``Content-Encoding: gzip`` without ever holding more than ``limit`` bytes
    (in one go: the gateway reads through :func:`inflater` a step at a time)."""
    reader = inflater(body, content_encoding, limit)
    if reader is None:
        return body
    return b"".join(iter(lambda: reader.read(limit + 1), b""))


def inflater(body: bytes, content_encoding: str | None, limit: int) -> GzipReader | None:
    """A reader of the gzip body, None for an identity one (413 when over ``limit``);
    415 for any other encoding."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        if len(body) > limit:
            raise too_large(limit)
        return None
    if encoding != "gzip":
        raise DocumentRefused(
            415,
            MessageCode.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding {encoding!r} is not accepted",
        )
    return GzipReader(body, limit)


class GzipBroken(StrEnum):
    """Why a gzip body (RFC 1952) cannot be read whole: ``details.reason`` of the 400."""

    HEADER = "header"
    """Not a gzip member header (or bytes other than zero padding after the last member)."""
    DATA = "data"
    """The deflate data is corrupt."""
    TRUNCATED = "truncated"
    """The stream ends inside a member's header or deflate data."""
    TRAILER = "trailer"
    """A member's 8-byte trailer (CRC-32 and size) is missing or cut short."""
    CRC = "crc"
    """A member's CRC-32 or size does not match what it inflates to."""


_GZIP_FLAGS_RESERVED = 0xE0
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 0x02, 0x04, 0x08, 0x10
_INPUT_STEP = 64 * 1024


class GzipReader:
    """Inflates every member of a gzip body and checks each trailer, a step at a time
    so that a caller may reserve memory (or yield) between steps; more than ``limit``
    bytes inflated is a 413. Headers and trailers are read here and the deflate data
    raw, so that a refusal can say exactly what is wrong."""

    def __init__(self, body: bytes, limit: int) -> None:
        self._data = memoryview(body)
        self._limit = limit
        self._pos = 0
        self._members = 0
        self._member: Any = None
        self._crc = 0
        self._size = 0
        self._total = 0

    def read(self, most: int) -> bytes:
        """Up to ``most`` more inflated bytes; b"" once every member is read and checked."""
        parts: list[bytes] = []
        got = 0
        while got < most:
            member = self._member or self._next_member()
            if member is None:
                break
            if member.unconsumed_tail:
                chunk: Any = member.unconsumed_tail
            elif self._pos < len(self._data):
                chunk = self._data[self._pos : self._pos + _INPUT_STEP]
                self._pos += len(chunk)
            else:
                chunk = b""  # no input left: only what zlib still holds may come out
            try:
                piece = member.decompress(chunk, min(most - got, self._limit + 1 - self._total))
            except zlib.error as exc:
                raise _broken(GzipBroken.DATA, f"bad deflate data: {exc}") from None
            if not chunk and not piece and not member.eof:
                raise _broken(GzipBroken.TRUNCATED, "the gzip stream ends inside a member")
            self._crc = zlib.crc32(piece, self._crc)
            self._size += len(piece)
            self._total += len(piece)
            if self._total > self._limit:
                raise too_large(self._limit)
            parts.append(piece)
            got += len(piece)
            if member.eof:
                self._end_member(member.unused_data)
        return b"".join(parts)

    def _next_member(self) -> Any:
        rest = self._data[self._pos :]
        if not rest:
            if self._members == 0:
                raise _broken(GzipBroken.TRUNCATED, "the gzip stream is empty")
            return None
        if self._members and rest.tobytes().count(0) == len(rest):
            self._pos = len(self._data)  # zero padding after the last member, as gzip(1)
            return None
        self._pos += _header_length(rest)
        self._member = zlib.decompressobj(-zlib.MAX_WBITS)
        self._crc = self._size = 0
        return self._member

    def _end_member(self, unused: bytes) -> None:
        start = self._pos - len(unused)
        trailer = self._data[start : start + 8].tobytes()
        if len(trailer) < 8:
            raise _broken(GzipBroken.TRAILER, "a gzip member ends without its trailer")
        crc, size = int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little")
        if crc != self._crc or size != self._size & 0xFFFFFFFF:
            raise _broken(GzipBroken.CRC, "a gzip member's CRC-32 or size does not match")
        self._pos = start + 8
        self._member = None
        self._members += 1


def _header_length(data: memoryview) -> int:
    """The length of the gzip member header at the start of ``data`` (RFC 1952, 2.3)."""
    head = data[:10].tobytes()
    reserved = len(head) >= 4 and head[3] & _GZIP_FLAGS_RESERVED
    if not b"\x1f\x8b\x08".startswith(head[:3]) or reserved:
        raise _broken(GzipBroken.HEADER, "not a gzip member (deflate, RFC 1952)")
    end = 10
    if len(head) < end:
        raise _broken(GzipBroken.TRUNCATED, "the gzip stream ends inside a member header")
    flags = head[3]
    if flags & _FEXTRA:
        extra = data[end : end + 2].tobytes()
        end += 2 + (int.from_bytes(extra, "little") if len(extra) == 2 else len(data))
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            stop = data[end:].tobytes().find(b"\0") if end < len(data) else -1
            end = end + stop + 1 if stop >= 0 else len(data) + 1
    if flags & _FHCRC:
        end += 2
    if end > len(data):
        raise _broken(GzipBroken.TRUNCATED, "the gzip stream ends inside a member header")
    return end


def _broken(reason: GzipBroken, message: str) -> DocumentRefused:
    return DocumentRefused(
        400,
        MessageCode.UNPARSEABLE,
        message,
        details={"encoding": "gzip", "reason": reason.value},
    )


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
    """Whitespace between elements is dropped: no format here has mixed content, so it
    is only indentation, about half the nodes of a pretty-printed message, each one
    built, skipped by the schema check and freed (alpha: parse and check 4 µs an item
    less). A value is kept as sent, even one of spaces only."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_blank_text=True,
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
