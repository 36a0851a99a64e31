"""Canonical records as XML (``xsd/canonical.xsd``), for targeting systems that want XML.

Renders the JSON wire form of :func:`gateway.canonical.record_to_dict` one to one (same
names; lists get a wrapper; null and empty fields are left out), so that the two forms
cannot drift. Written as text rather than built as an lxml tree: the feed renders up to
1,000 records a page, and element objects cost five times the text they end up as.
Nothing here validates (the tests check the output against the XSD).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from lxml import etree

NAMESPACE = "urn:aed-gateway:canonical:1"

LIST_ENTRIES = {
    "contents": "line",
    "documents": "document",
    "tax_ids": "tax_id",
    "lines": "line",
    "quality_flags": "flag",
}
"""The element of each entry inside a list's wrapper (``contents/line``)."""

# Characters XML 1.0 cannot carry: replaced, so that a stored record still renders.
_NOT_XML = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_SPECIAL = re.compile(f"[&<>\r{_NOT_XML}]")
# A raw carriage return would come back as a line feed from any XML parser: kept as a
# character reference, as lxml writes it.
_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\r"): "&#13;"}
_ESCAPES |= {c: "\ufffd" for c in range(0x20) if chr(c) not in "\t\n\r"}
_ESCAPES |= {c: "\ufffd" for c in (*range(0xD800, 0xE000), 0xFFFE, 0xFFFF)}


def record_element(record: Mapping[str, Any]) -> etree._Element:
    """One record as a ``Record`` element."""
    parts = [f'<Record xmlns="{NAMESPACE}">']
    _fill(parts.append, record)
    parts.append("</Record>")
    return etree.fromstring("".join(parts))


def records_document(records: list[dict[str, Any]], next_cursor: str | None) -> bytes:
    """A feed page as a ``Records`` document (UTF-8, with the declaration)."""
    cursor = "" if next_cursor is None else f' next="{_attribute(next_cursor)}"'
    parts = [f"<?xml version='1.0' encoding='UTF-8'?>\n<Records xmlns=\"{NAMESPACE}\"{cursor}>"]
    for record in records:
        parts.append("<Record>")
        _fill(parts.append, record)
        parts.append("</Record>")
    parts.append("</Records>")
    return "".join(parts).encode()


def _fill(add: Callable[[str], None], fields: Mapping[str, Any]) -> None:
    """Append the elements of ``fields`` through ``add`` (a list's bound append)."""
    for name, value in fields.items():
        if value is None:
            continue
        kind = type(value)
        if kind is str:
            add(f"<{name}>{_escape(value)}</{name}>")
        elif kind is dict:
            add(f"<{name}>")
            _fill(add, value)
            add(f"</{name}>")
        elif kind is list:
            if not value:
                continue
            entry = LIST_ENTRIES[name]
            add(f"<{name}>")
            for item in value:
                if type(item) is dict:
                    add(f"<{entry}>")
                    _fill(add, item)
                    add(f"</{entry}>")
                else:
                    add(f"<{entry}>{_text(item)}</{entry}>")
            add(f"</{name}>")
        else:
            add(f"<{name}>{_text(value)}</{name}>")


def _text(value: Any) -> str:
    return _escape(value if isinstance(value, str) else str(value))


def _attribute(text: str) -> str:
    return _escape(text).replace('"', "&quot;")


def _escape(text: str) -> str:
    return text.translate(_ESCAPES) if _SPECIAL.search(text) else text
