"""The generic adapter: one TOML mapping file per (format, version) instead of Python code.

A mapping says where each canonical field is in the operator's document (XPath for XML, a
relative JSON path for JSON and NDJSON) and how to convert it (units, code lists, minor
units, decimal commas, line totals). Loading checks every key, path and code list, so an
onboarding engineer reads "file: key: what is wrong" at start-up, not a wrong record later.
The format is described in docs/onboarding.md ("Mapping files").

Sections: field types; paths (compiled once, evaluated per item, with the source path of
every value); fields and conversions; the adapter; loading.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from collections import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from adapters import convert
from adapters.base import ItemError, MessageRejected
from adapters.convert import ConversionError, Raw, UnknownCode
from gateway.canonical import (
    Address,
    CanonicalItem,
    Category,
    ContentLine,
    Document,
    Function,
    MailClass,
    Money,
    Party,
    TaxId,
    Transport,
)
from gateway.codes import ItemCode, MessageCode
from gateway.document import Document as SourceDocument
from gateway.document import Kind, iter_ndjson
from gateway.schemas import SchemaInvalid, json_problems


class MappingError(Exception):
    """A mapping file that cannot be used; the message names the file and the key."""

    def __init__(self, file: str, key: str, message: str) -> None:
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


@dataclass(frozen=True, slots=True)
class LintFinding:
    """A mapped path that matched nothing in a sample document."""

    file: str
    key: str
    path: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: path {self.path!r} never matches in the sample"


# --- canonical field types: a field's default conversion follows from its type ------------

TEXT, HS, LINES, DECIMAL, INTEGER, WEIGHT, MONEY, TIME = (
    "text", "hs", "lines", "decimal", "integer", "weight", "money", "datetime"
)
FieldType = str | type[StrEnum]

_ITEM_FIELDS: dict[str, FieldType] = {
    "item_id": TEXT, "mail_class": MailClass, "category": Category,
    "category_explanation": TEXT, "origin_country": TEXT, "destination_country": TEXT,
    "posted_at": TIME, "gross_weight_kg": WEIGHT, "pieces": INTEGER, "total_value": MONEY,
    "postal_charges": MONEY, "function": Function, "revision": INTEGER,
}
_ADDRESS_FIELDS: dict[str, FieldType] = {
    "lines": LINES, "street": TEXT, "house_number": TEXT, "postcode": TEXT, "city": TEXT,
    "region": TEXT, "country": TEXT,
}
_PARTY_FIELDS: dict[str, FieldType] = {
    "name": TEXT, "name_original": TEXT, "business_name": TEXT, "phone": TEXT, "email": TEXT,
    **{f"address.{name}": kind for name, kind in _ADDRESS_FIELDS.items()},
}
_TAX_ID_FIELDS: dict[str, FieldType] = {"scheme": TEXT, "value": TEXT}
_CONTENT_FIELDS: dict[str, FieldType] = {
    "line_no": INTEGER, "description": TEXT, "quantity": DECIMAL, "unit": TEXT,
    "net_weight_kg": WEIGHT, "value": MONEY, "hs_code": HS, "origin_country": TEXT,
}
_DOCUMENT_FIELDS: dict[str, FieldType] = {"type": TEXT, "number": TEXT}
_TRANSPORT_FIELDS: dict[str, FieldType] = {
    "dispatch_id": TEXT, "receptacle_id": TEXT, "carrier": TEXT, "flight": TEXT,
    "departure_at": TIME, "arrival_at": TIME,
}

_SOURCES = ("path", "first", "join", "sum", "const")
_PATH_PARAMS = ("unit_path", "currency_path", "country_path", "times")
# conversion -> the parameters it takes (besides the source keys, "sep" and "convert")
_PARAMS: dict[str, set[str]] = {
    "text": {"only_non_latin", "remove"},
    "hs": set(),
    "phone": {"country_path"},
    "code": {"codes", "remove"},
    "match": {"patterns", "remove"},
    "decimal": {"decimal_comma", "times"},
    "integer": set(),
    "weight": {"unit", "unit_path", "decimal_comma", "times"},
    "money": {"currency", "currency_path", "minor_units", "decimal_comma", "times"},
    "datetime": {"zone"},
    "lines": set(),
}


def _conversions_for(kind: FieldType) -> tuple[str, ...]:
    """The conversions a field of this type may use; the first is its default."""
    if not isinstance(kind, str):
        return ("code",)
    return {TEXT: ("text", "hs", "phone", "code", "match"), HS: ("hs", "text")}.get(kind, (kind,))


# --- paths ----------------------------------------------------------------------------------
# A path is compiled once. Child-step paths ("a:Sender/a:Name", "@type", "declaredValue/
# amount") take a fast route through a per-element index of children (XML) or plain dict
# lookups (JSON); anything else is a precompiled lxml XPath or a general JSON walk. Either
# route yields each value with its source path, built as it goes.


@dataclass(frozen=True, slots=True)
class _Expr:
    """One compiled path. ``steps`` is set for child-step paths (XML: (Clark tag, local
    name) pairs and an optional final attribute; JSON: keys and their pointer suffix)."""

    text: str
    key: str
    run: Any
    steps: tuple[Any, ...] | None = None
    attr: str | None = None
    suffix: str = ""


_XML_STEP = re.compile(r"(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)")
_XML_ATTR = re.compile(r"@([\w.-]+)")


class _XmlSyntax:
    """Compiles XPath with the mapping's namespace prefixes."""

    def __init__(self, namespaces: dict[str, str]) -> None:
        self.namespaces = namespaces
        self._probe = etree.Element("probe")

    def compile(self, text: str, key: str) -> _Expr:
        """Raises ValueError on bad syntax or an unknown prefix (found by a trial run)."""
        try:
            xpath = etree.XPath(text, namespaces=self.namespaces)
            xpath(self._probe)
        except etree.XPathError as exc:
            raise ValueError(f"XPath {text!r}: {exc}") from None
        parts = text.split("/") if text != "." else []
        attr = None
        if parts and _XML_ATTR.fullmatch(parts[-1]):
            attr = parts.pop()[1:]
        steps = []
        for part in parts:
            match = _XML_STEP.fullmatch(part)
            if match is None:
                return _Expr(text, key, xpath)
            prefix, local = match.groups()
            steps.append((f"{{{self.namespaces[prefix]}}}{local}" if prefix else local, local))
        return _Expr(text, key, xpath, tuple(steps), attr)

    def qname(self, text: str) -> str:
        prefix, _, local = text.rpartition(":")
        if prefix and prefix not in self.namespaces:
            raise ValueError(f"prefix {prefix!r} is not in [namespaces]")
        return f"{{{self.namespaces[prefix]}}}{local}" if prefix else local


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _escape(segment: str | int) -> str:
    return str(segment).replace("~", "~0").replace("/", "~1")


class _JsonSyntax:
    """JSON paths: "a/b/0" relative to the context, "/a/b" from the root (a JSON Pointer),
    ".." one level up, "*" every element, "." the context itself."""

    @staticmethod
    def compile(text: str, key: str) -> _Expr:
        absolute = text.startswith("/")
        body = text[1:] if absolute else text
        segments = tuple(
            s.replace("~1", "/").replace("~0", "~") for s in body.split("/")
        ) if body not in ("", ".") else ()
        if "" in segments:
            raise ValueError(f"path {text!r} has an empty step")
        plain = not absolute and not {"..", "*", "."} & set(segments)
        if not plain:
            return _Expr(text, key, (absolute, segments))
        suffix = "".join("/" + _escape(s) for s in segments)
        return _Expr(text, key, (absolute, segments), segments, None, suffix)


class _XmlRun:
    """Evaluates paths in one XML document; names nodes with 1-based XPath indices (on
    items and list entries always, elsewhere when same-named siblings exist)."""

    __slots__ = ("_children", "_outer_children", "_outer_paths", "_paths", "_positions")

    def __init__(self) -> None:
        self._positions: dict[Any, dict[Any, int]] = {}
        self._outer_children: dict[Any, dict[str, list[Any]]] = {}
        self._outer_paths: dict[Any, str] = {}
        self._children = self._outer_children
        self._paths = self._outer_paths

    def top(self, doc: SourceDocument) -> tuple[Any, str]:
        return doc.root, "/" + _local(doc.root.tag)

    def item_path(self, node: Any) -> str:
        """The item's path; caches of the previous item are dropped, the message's kept."""
        self._children, self._paths = self._outer_children, self._outer_paths
        path = self._path(node, index=True)
        self._children, self._paths = {}, {node: path}
        return path

    def children(self, node: Any) -> dict[str, list[Any]]:
        index = self._children.get(node)
        return index if index is not None else self._index(node)

    def first_value(self, expr: _Expr, node: Any, node_path: str) -> tuple[Raw | None, str]:
        """The first non-empty value and its path, or (None, ""): the hot path of a field."""
        steps = expr.steps
        if steps is not None and len(steps) <= 1:
            attr = expr.attr
            same = self.children(node).get(steps[0][0], ()) if steps else (node,)
            for i, el in enumerate(same, 1):
                text = el.text if attr is None else el.get(attr)
                if text and not text.isspace():
                    path = node_path
                    if steps:
                        local = steps[0][1]
                        path += f"/{local}[{i}]" if len(same) > 1 else f"/{local}"
                    return text, path if attr is None else f"{path}/@{attr}"
            return None, ""
        for raw, path in self.values(expr, node, node_path):
            if _present(raw):
                return raw, path
        return None, ""

    def values(self, expr: _Expr, node: Any, node_path: str) -> list[tuple[Raw | None, str]]:
        if expr.steps is None:
            return [(self._raw(hit), self._hit_path(hit, node_path)) for hit in _list(expr, node)]
        hits = self._walk(expr.steps, node, node_path, False) if expr.steps else [(node, node_path)]
        attr = expr.attr
        if attr is None:
            return [(el.text, path) for el, path in hits]
        return [(el.get(attr), f"{path}/@{attr}") for el, path in hits if el.get(attr) is not None]

    def nodes(self, expr: _Expr, node: Any, node_path: str, many: bool) -> list[tuple[Any, str]]:
        """The context elements a table's path selects (list entries always indexed)."""
        steps = expr.steps
        if steps is None or expr.attr is not None:
            found = [h for h in _list(expr, node) if isinstance(h, etree._Element)]
            return [(h, self._path(h, index=many)) for h in found]
        if len(steps) == 1:
            tag, local = steps[0]
            same = self.children(node).get(tag) or []
            if len(same) == 1 and not many:
                hits = [(same[0], f"{node_path}/{local}")]
            else:
                hits = [(c, f"{node_path}/{local}[{i}]") for i, c in enumerate(same, 1)]
        else:
            hits = self._walk(steps, node, node_path, many) if steps else [(node, node_path)]
        for el, path in hits:  # so that XPath below a list entry names it with its index
            self._paths[el] = path
        return hits

    @staticmethod
    def exists(expr: _Expr, node: Any) -> bool:
        return bool(_list(expr, node))

    def nearest(self, expr: _Expr, node: Any, node_path: str) -> str:
        """Where a value the path does not find belongs: its deepest existing parent."""
        if not expr.steps or (len(expr.steps) == 1 and expr.attr is None):
            return node_path
        path = node_path
        current = [(node, node_path)]
        for step in expr.steps[:-1] if expr.attr is None else expr.steps:
            current = self._walk((step,), current[0][0], current[0][1], False)
            if not current:
                break
            path = current[0][1]
        return path

    def list_path(self, expr: _Expr, node: Any, node_path: str) -> str:
        """The path of a list as a whole: the element holding its entries."""
        return self.nearest(expr, node, node_path)

    @staticmethod
    def sum_path(expr: _Expr, node: Any, node_path: str) -> str:
        """A sum is computed from the context's values: it has the context's path."""
        return node_path

    def _walk(
        self, steps: tuple[Any, ...], node: Any, node_path: str, index_last: bool
    ) -> list[tuple[Any, str]]:
        current = [(node, node_path)]
        last = len(steps) - 1
        for n, (tag, local) in enumerate(steps):
            found: list[tuple[Any, str]] = []
            for el, path in current:
                same = self._index(el).get(tag)
                if not same:
                    continue
                if len(same) == 1 and not (index_last and n == last):
                    found.append((same[0], f"{path}/{local}"))
                else:
                    found.extend((c, f"{path}/{local}[{i}]") for i, c in enumerate(same, 1))
            if not found:
                return found
            current = found
        return current

    def _index(self, el: Any) -> dict[str, list[Any]]:
        """An element's children by tag, built once per element."""
        index = self._children.get(el)
        if index is None:
            index = self._outer_children.get(el)
        if index is None:
            index = self._children[el] = {}
            for child in el:
                same = index.get(child.tag)
                if same is None:
                    index[child.tag] = [child]
                else:
                    same.append(child)
        return index

    def _path(self, el: Any, *, index: bool = False) -> str:
        if not index:
            known = self._paths.get(el) or self._outer_paths.get(el)
            if known is not None:
                return known
        parent = el.getparent()
        local = _local(el.tag)
        if parent is None:
            path = "/" + local
        else:
            same = self._index(parent)[el.tag]
            step = f"{local}[{self._position(el, same)}]" if index or len(same) > 1 else local
            path = f"{self._path(parent)}/{step}"
        self._paths[el] = path
        return path

    def _position(self, el: Any, same: list[Any]) -> int:
        """1-based position among same-named siblings; a map per sibling list (thousands
        of items share one parent), kept for the whole document."""
        if len(same) < 8:
            return same.index(el) + 1
        positions = self._positions.get(same[0])
        if positions is None:
            positions = self._positions[same[0]] = {c: i for i, c in enumerate(same, 1)}
        return positions[el]

    def _hit_path(self, hit: Any, node_path: str) -> str:
        if isinstance(hit, etree._Element):
            return self._path(hit)
        parent = hit.getparent() if isinstance(hit, etree._ElementUnicodeResult) else None
        if parent is None:
            return node_path
        base = self._path(parent)
        return f"{base}/@{_local(hit.attrname)}" if hit.is_attribute else base

    @staticmethod
    def _raw(hit: Any) -> Raw | None:
        if isinstance(hit, etree._Element):
            return hit.text
        if isinstance(hit, bool):
            return "true" if hit else "false"
        if isinstance(hit, float):
            return Decimal(repr(hit)).normalize()
        return hit


def _list(expr: _Expr, node: Any) -> list[Any]:
    result = expr.run(node)
    return result if isinstance(result, list) else [result]


@dataclass(frozen=True, slots=True)
class _JNode:
    """A JSON value with where it is: pointer parts (for "..") and the pointer text."""

    value: Any
    ptr: tuple[str | int, ...]
    pointer: str

    def child(self, key: str | int, value: Any) -> _JNode:
        return _JNode(value, (*self.ptr, key), f"{self.pointer}/{_escape(key)}")


class _JsonRun:
    """Evaluates paths in one JSON document, or one NDJSON line (``prefix`` "line N ")."""

    __slots__ = ("prefix", "root")

    def __init__(self, root: Any, prefix: str = "") -> None:
        self.root = root
        self.prefix = prefix

    def top(self, _: SourceDocument | None = None) -> tuple[_JNode, str]:
        return _JNode(self.root, (), ""), self.prefix.rstrip()

    def item_path(self, node: _JNode) -> str:
        return (self.prefix + node.pointer).rstrip()

    @staticmethod
    def children(node: _JNode) -> dict[str, Any]:
        return node.value if isinstance(node.value, dict) else {}

    def first_value(self, expr: _Expr, node: _JNode, node_path: str) -> tuple[Raw | None, str]:
        """The first non-empty value and its path, or (None, "")."""
        for raw, path in self.values(expr, node, node_path):
            if _present(raw):
                return raw, path
        return None, ""

    def values(self, expr: _Expr, node: _JNode, node_path: str) -> list[tuple[Raw | None, str]]:
        if expr.steps is not None:
            value = node.value
            for key in expr.steps:
                if isinstance(value, dict):
                    value = value.get(key)
                elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                    value = value[int(key)]
                else:
                    return []
            if value is None:
                return []
            if not isinstance(value, list):
                return [_scalar_at(value, self.prefix + node.pointer + expr.suffix)]
            base = _JNode(value, (*node.ptr, *expr.steps), node.pointer + expr.suffix)
            return [_scalar_at(v.value, self.item_path(v)) for v in _elements(base)]
        return [
            _scalar_at(v.value, self.item_path(v))
            for hit in self._walk(expr, node) for v in _elements(hit)
        ]

    def nodes(
        self, expr: _Expr, node: _JNode, node_path: str, many: bool
    ) -> list[tuple[_JNode, str]]:
        steps = expr.steps
        if steps is not None and len(steps) == 1 and isinstance(node.value, dict):
            value = node.value.get(steps[0])
            if value is None:
                return []
            hits = [_JNode(value, (*node.ptr, steps[0]), node.pointer + expr.suffix)]
        else:
            hits = self._walk(expr, node)
        found = [v for hit in hits for v in _elements(hit)] if many else hits
        return [(v, self.item_path(v)) for v in found if v.value is not None]

    def exists(self, expr: _Expr, node: _JNode) -> bool:
        return any(hit.value is not None for hit in self._walk(expr, node))

    def nearest(self, expr: _Expr, node: _JNode, node_path: str) -> str:
        """Where a value the path does not find belongs: its deepest existing parent."""
        absolute, segments = expr.run
        here = self.top()[0] if absolute else node
        for segment in segments[:-1]:
            found = self._step(here, segment)
            if len(found) != 1 or segment in ("..", "*"):
                break
            here = found[0]
        return self.item_path(here) if absolute or here is not node else node_path

    def list_path(self, expr: _Expr, node: _JNode, node_path: str) -> str:
        """The path of a list as a whole: the array holding its entries."""
        found = self._walk(expr, node)
        if len(found) == 1 and isinstance(found[0].value, list):
            return self.item_path(found[0])
        return self.nearest(expr, node, node_path)

    sum_path = nearest

    def _walk(self, expr: _Expr, node: _JNode) -> list[_JNode]:
        absolute, segments = expr.run
        current = [self.top()[0]] if absolute else [node]
        for segment in segments:
            current = [found for here in current for found in self._step(here, segment)]
        return current

    def _step(self, here: _JNode, segment: str) -> list[_JNode]:
        value = here.value
        if segment == "..":
            up = self.top()[0]
            for part in here.ptr[:-1]:
                key = int(part) if isinstance(up.value, list) else part
                up = up.child(key, up.value[key])
            return [up]
        if segment == "*":
            if isinstance(value, list):
                return [here.child(i, v) for i, v in enumerate(value)]
            if isinstance(value, dict):
                return [here.child(k, v) for k, v in value.items()]
            return []
        if segment == ".":
            return [here]
        if isinstance(value, dict):
            return [here.child(segment, value[segment])] if segment in value else []
        if isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            return [here.child(int(segment), value[int(segment)])]
        return []



def _scalar_at(value: Any, path: str) -> tuple[Raw | None, str]:
    """A JSON value read at ``path``; an object or a nested list is an error there."""
    try:
        return _json_scalar(value), path
    except ConversionError as exc:
        raise _Failed(exc, path) from None


def _json_scalar(value: Any) -> Raw | None:
    """A JSON value as a raw value: booleans as "true"/"false", numbers as they are."""
    if value is None or isinstance(value, str | Decimal):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    raise ConversionError("expected a single value, found an object", value)


def _elements(node: _JNode) -> list[_JNode]:
    """An array stands for its elements; anything else for itself."""
    if isinstance(node.value, list):
        return [node.child(i, v) for i, v in enumerate(node.value)]
    return [node]


# --- fields and conversions -----------------------------------------------------------------


class _Failed(Exception):
    """A value that could not be converted, with the path of the offending value."""

    def __init__(self, error: ConversionError, path: str) -> None:
        self.error = error
        self.path = path


def _present(raw: Raw | None) -> bool:
    return raw is not None and (not isinstance(raw, str) or bool(raw.strip()))


@dataclass(slots=True)
class _Eval:
    """One item's translation in progress: the context being read, results, errors."""

    run: Any
    paths: dict[str, str]
    errors: list[tuple[str, ConversionError]]
    hits: set[tuple[str, str]] | None
    xml: bool = False
    node: Any = None
    node_path: str = ""
    prefix: str = ""

    def first(self, exprs: tuple[_Expr, ...]) -> tuple[Raw | None, str | None]:
        """The first non-empty value the paths select, and its source path."""
        for expr in exprs:
            for raw, path in self.run.values(expr, self.node, self.node_path):
                if _present(raw):
                    if self.hits is not None:
                        self.hits.add((expr.key, expr.text))
                    return raw, path
        return None, None

    def all(self, exprs: tuple[_Expr, ...]) -> list[tuple[Raw, str]]:
        """Every non-empty value the paths select, in order, with its source path."""
        out: list[tuple[Raw, str]] = []
        for expr in exprs:
            found = [(raw, path) for raw, path in self.run.values(expr, self.node, self.node_path)
                     if _present(raw)]
            if found and self.hits is not None:
                self.hits.add((expr.key, expr.text))
            out.extend(found)  # type: ignore[arg-type]
        return out

    def param(self, expr: _Expr | None, fixed: Any = None) -> tuple[Any, str | None]:
        """A parameter read from the document (``*_path``, ``times``), or its fixed value."""
        if expr is None:
            return fixed, None
        raw, path = self.run.first_value(expr, self.node, self.node_path)
        if raw is None:
            return None, None
        if self.hits is not None:
            self.hits.add((expr.key, expr.text))
        return convert.text(raw), path


@dataclass(frozen=True, slots=True)
class _Field:
    """One canonical field: where its raw value comes from and how it is converted."""

    name: str
    key: str
    source: str
    exprs: tuple[_Expr, ...]
    const: Any
    sep: str
    conversion: str
    params: dict[str, Any]
    kind: FieldType
    table: dict[str, Any] | None
    """The code list of a ``code`` conversion, its values already canonical."""
    convert: Callable[..., Any]
    plain: bool
    """Plain text (strip, "" -> None): done inline, the commonest conversion by far."""
    child: tuple[str, str] | None
    """A path of one child element or key: (XML Clark tag or JSON key, path step)."""

    def read(self, ev: _Eval, children: dict[str, Any]) -> tuple[Any, str]:
        """The raw value (None when absent) and the path of the value or where it belongs.
        Address lines read as a list of texts, recorded one by one in ``ev.paths``.

        ``children`` is the context's child index (XML) or object (JSON): a path of one
        step, the common case, is read from it directly."""
        child = self.child
        if child is not None:
            hit = children.get(child[0])
            if ev.xml:
                for i, el in enumerate(hit or (), 1):
                    text = el.text
                    if text and not text.isspace():
                        if ev.hits is not None:
                            ev.hits.add((self.key, self.exprs[0].text))
                        step = child[1] if len(hit) == 1 else f"{child[1]}[{i}]"
                        return text, f"{ev.node_path}/{step}"
                return None, ev.node_path
            if hit is None or (isinstance(hit, str) and not hit.strip()):
                return None, ev.node_path
            if not isinstance(hit, dict | list):
                if ev.hits is not None:
                    ev.hits.add((self.key, self.exprs[0].text))
                return _scalar_at(hit, ev.run.prefix + ev.node.pointer + child[1])
        source = self.source
        if source == "const":
            return self.const, ""
        if source != "path" or self.kind == LINES:
            return self._read_many(ev)
        expr = self.exprs[0]
        raw, path = ev.run.first_value(expr, ev.node, ev.node_path)
        if raw is None:
            return None, ev.run.nearest(expr, ev.node, ev.node_path)
        if ev.hits is not None:
            ev.hits.add((self.key, expr.text))
        return raw, path

    def _read_many(self, ev: _Eval) -> tuple[Any, str]:
        if self.source == "first":
            raw, path = ev.first(self.exprs)
            return raw, path or ev.run.nearest(self.exprs[0], ev.node, ev.node_path)
        parts = ev.all(self.exprs)
        if not parts:
            return ([] if self.kind == LINES else None), ev.run.nearest(
                self.exprs[0], ev.node, ev.node_path
            )
        if self.kind == LINES:
            for i, (_, line_path) in enumerate(parts, start=1):
                ev.paths[f"{ev.prefix}{self.name}[{i}]"] = line_path
            return [convert.text(p) for p, _ in parts], parts[0][1]
        if self.source == "join":
            return self.sep.join(convert.text(p) or "" for p, _ in parts), parts[0][1]
        comma = self.params.get("decimal_comma", False)
        total = Decimal(0)
        for raw, path in parts:
            try:
                total += convert.decimal(raw, comma=comma) or 0
            except ConversionError as exc:
                raise _Failed(exc, path) from None
        return total, ev.run.sum_path(self.exprs[0], ev.node, ev.node_path)


def _is_non_latin(value: str) -> bool:
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in value)


class _Converter:
    """The conversions, one method each: (field, raw, path, eval, values so far) -> value.
    A ConversionError is reported at ``path``; a _Failed names its own path."""

    def __init__(self, patterns: dict[str, list[tuple[str, re.Pattern[str]]]]) -> None:
        self.patterns = patterns

    @staticmethod
    def _cleaned(f: _Field, raw: Any) -> str | None:
        """The text with the characters of ``remove`` taken out ("111.444.777-35")."""
        value = convert.text(raw)
        remove = f.params.get("remove")
        if value is None or not remove:
            return value
        return convert.text(value.translate({ord(c): None for c in remove}))

    def text(self, f: _Field, raw: Any, *_: Any) -> str | None:
        value = self._cleaned(f, raw)
        if value is not None and f.params.get("only_non_latin") and not _is_non_latin(value):
            return None
        return value

    @staticmethod
    def hs(f: _Field, raw: Any, *_: Any) -> str | None:
        return convert.hs_code(convert.text(raw))

    @staticmethod
    def phone(f: _Field, raw: Any, path: str, ev: _Eval, out: dict[str, Any]) -> str | None:
        """E.164 when the number can be read; otherwise as sent, for the rules to flag."""
        country, _ = ev.param(f.params.get("country_path"), out.get("address.country"))
        value = convert.text(raw)
        try:
            return convert.phone_e164(value, country)
        except ConversionError:
            return value

    def code(self, f: _Field, raw: Any, *_: Any) -> Any:
        assert f.table is not None
        return convert.code(self._cleaned(f, raw), f.table, f.params.get("codes") or f.name)

    def match(self, f: _Field, raw: Any, *_: Any) -> str | None:
        """The name of the first pattern the value matches: a shape, so a value matching
        none is unreadable (value_invalid), not an unknown code."""
        value = self._cleaned(f, raw)
        if value is None:
            return None
        name = f.params["patterns"]
        for result, pattern in self.patterns[name]:
            if pattern.fullmatch(value):
                return result
        shapes = ", ".join(r for r, _ in self.patterns[name])
        raise ConversionError(f"{raw!r} has none of the shapes {shapes}", raw)

    @staticmethod
    def _times(f: _Field, value: Decimal | None, ev: _Eval) -> Decimal | None:
        """A line total from a per-unit value: ``times`` names the quantity."""
        expr = f.params.get("times")
        if expr is None or value is None:
            return value
        raw, path = ev.param(expr)
        try:
            quantity = convert.decimal(raw, comma=f.params.get("decimal_comma", False))
        except ConversionError as exc:
            raise _Failed(exc, path or ev.node_path) from None
        return convert.line_total(value, quantity)

    def decimal(self, f: _Field, raw: Any, path: str, ev: _Eval, _: Any) -> Decimal | None:
        number = convert.decimal(raw, comma=f.params.get("decimal_comma", False))
        return self._times(f, number, ev)

    @staticmethod
    def integer(f: _Field, raw: Any, *_: Any) -> int | None:
        return convert.integer(raw)

    def weight(self, f: _Field, raw: Any, path: str, ev: _Eval, _: Any) -> Decimal | None:
        number = convert.decimal(raw, comma=f.params.get("decimal_comma", False))
        unit, unit_path = ev.param(f.params.get("unit_path"), f.params.get("unit", "kg"))
        try:
            kg = convert.weight_kg(number, unit)
        except ConversionError as exc:
            raise _Failed(exc, unit_path or path) from None
        return self._times(f, kg, ev)

    def money(self, f: _Field, raw: Any, path: str, ev: _Eval, _: Any) -> Money | None:
        currency, currency_path = ev.param(f.params.get("currency_path"), f.params.get("currency"))
        if currency_path:
            ev.paths[f"{ev.prefix}{f.name}.currency"] = currency_path
            if f.source == "sum":
                _same_currency(f.params["currency_path"], currency, ev)
        if currency is None:
            raise ConversionError("an amount without a currency", raw)
        if f.params.get("minor_units"):
            amount = convert.minor_units(raw, currency)
        else:
            amount = convert.decimal(raw, comma=f.params.get("decimal_comma", False))
        amount = self._times(f, amount, ev)
        return None if amount is None else Money(amount, currency)

    @staticmethod
    def datetime(f: _Field, raw: Any, *_: Any) -> Any:
        return convert.timestamp(convert.text(raw), f.params.get("zone"))

    @staticmethod
    def lines(f: _Field, raw: Any, *_: Any) -> list[str]:
        return raw


def _same_currency(expr: _Expr, currency: str, ev: _Eval) -> None:
    """A sum is only meaningful in one currency: the gateway converts none."""
    for other, other_path in ev.all((expr,)):
        if convert.text(other) != currency:
            error = ConversionError(f"currency {other!r} differs from {currency!r}", other)
            raise _Failed(error, other_path)


@dataclass(frozen=True, slots=True)
class _Table:
    """Fields evaluated at one context node (the item, a party, each line)."""

    name: str
    context: _Expr | None
    many: bool
    fields: tuple[_Field, ...]
    subtables: tuple[_Table, ...]
    build: Callable[[dict[str, Any], int], Any]
    """Makes the canonical object from the field values and the entry's 1-based position."""


def _build_party(values: dict[str, Any], _: int) -> Party:
    address = Address(
        lines=values.get("address.lines") or [],
        **{k: values.get(f"address.{k}") for k in _ADDRESS_FIELDS if k != "lines"},
    )
    return Party(
        name=values.get("name"),
        name_original=values.get("name_original"),
        business_name=values.get("business_name"),
        address=address,
        phone=values.get("phone"),
        email=values.get("email"),
        tax_ids=values.get("tax_ids") or [],
    )


def _require(values: dict[str, Any], name: str, what: str) -> Any:
    value = values.get(name)
    if value is None:
        raise ConversionError(f"{what} has no {name}", None)
    return value


def _build_tax_id(values: dict[str, Any], _: int) -> TaxId | None:
    if values.get("value") is None:
        return None
    return TaxId(scheme=_require(values, "scheme", "tax id"), value=values["value"])


def _build_document(values: dict[str, Any], _: int) -> Document | None:
    if values.get("type") is None and values.get("number") is None:
        return None
    return Document(type=_require(values, "type", "document"), number=values.get("number"))


def _build_line(values: dict[str, Any], position: int) -> ContentLine:
    """A line numbered by the operator, or by its position when the operator does not."""
    if values.get("line_no") is None:
        values["line_no"] = position
    return ContentLine(**values)


def _build_transport(values: dict[str, Any], _: int) -> Transport | None:
    return Transport(**values) if any(v is not None for v in values.values()) else None


def _build_item(values: dict[str, Any], _: int) -> dict[str, Any]:
    return values


# --- the adapter ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """A mapping file compiled: every path precompiled, every table checked."""

    roots: frozenset[str]
    has: tuple[_Expr, ...]
    equals: tuple[tuple[_Expr, str], ...]
    ref_path: _Expr | None
    ref_header: str | None
    ref_fallback: str | None
    items_path: _Expr | None
    where: tuple[tuple[str, str], ...]
    header: bool
    count: _Expr | None
    item: _Table
    lint_paths: tuple[tuple[str, str], ...]
    origins: dict[str, str]


class Mapping:
    """An Adapter driven by a mapping file (see the module docstring)."""

    def __init__(self, spec: dict[str, Any], file: str) -> None:
        compiler = _Compiler(spec, file)
        self.file = file
        self.operator: str = compiler.text("operator")
        self.format: str = compiler.text("format")
        self.version: str = compiler.text("version")
        self.kind: Kind = compiler.kind
        self.schema: str | None = spec.get("schema")
        self._plan = compiler.plan()

    @classmethod
    def load(cls, source: Traversable | str) -> Mapping:
        """Load a mapping file, following ``extends`` to the files it builds on."""
        path = Path(source) if isinstance(source, str) else source
        return cls(_read_with_extends(path, set()), _display(path))

    def __repr__(self) -> str:
        return f"<Mapping {self.format}/{self.version} from {self.file}>"

    # -- Adapter protocol --

    def detect(self, doc: SourceDocument) -> bool:
        plan = self._plan
        if doc.kind is not self.kind or (plan.roots and doc.root.tag not in plan.roots):
            return False
        ev = self._top(doc)
        if ev.node is None:
            return False
        if not all(ev.run.exists(e, ev.node) for e in plan.has):
            return False
        return all(convert.text(ev.first((e,))[0]) == want for e, want in plan.equals)

    def message_ref(self, doc: SourceDocument) -> str | None:
        plan = self._plan
        if plan.ref_path is not None:
            value = convert.text(self._top(doc).first((plan.ref_path,))[0])
            if value is not None:
                return value
        if plan.ref_header is not None:
            value = convert.text(_header(doc.headers, plan.ref_header))
            if value is not None:
                return value
        if plan.ref_fallback == "sha256":
            return hashlib.sha256(doc.raw).hexdigest()
        return None

    def translate(self, doc: SourceDocument) -> Iterator[CanonicalItem | ItemError]:
        return self._translate(doc, None)

    # -- onboarding --

    def lint(self, doc: SourceDocument) -> list[LintFinding]:
        """The mapped paths that match nothing in any item of ``doc`` (a sample message)."""
        hits: set[tuple[str, str]] = set()
        for _ in self._translate(doc, hits):
            pass
        return [
            LintFinding(_origin_of(self._plan.origins, key, self.file), key, text)
            for key, text in self._plan.lint_paths
            if (key, text) not in hits
        ]

    # -- translation --

    def _top(self, doc: SourceDocument) -> _Eval:
        """An evaluation at the document's top (NDJSON: the first line)."""
        if self.kind is Kind.XML:
            run: Any = _XmlRun()
            node, path = run.top(doc)
        elif self.kind is Kind.JSON:
            run = _JsonRun(doc.root)
            node, path = run.top()
        else:
            run, node, path = _JsonRun(None), None, ""
            for number, value in iter_ndjson(doc):
                run = _JsonRun(value, f"line {number} ")
                node, path = run.top()
                break
        return _Eval(run, {}, [], None, self.kind is Kind.XML, node, path)

    def _translate(
        self, doc: SourceDocument, hits: set[tuple[str, str]] | None
    ) -> Iterator[CanonicalItem | ItemError]:
        declared, where = self._declared_count(doc)
        count = 0
        for index, (run, node) in enumerate(self._items(doc)):
            count += 1
            if declared is not None and count > declared:
                break
            yield self._item(index, run, node, hits)
        if declared is not None and count != declared:
            carried = "more" if count > declared else str(count)
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH,
                f"the message declares {declared} items but carries {carried}",
                [{"path": where}],
            )

    def _declared_count(self, doc: SourceDocument) -> tuple[int | None, str]:
        """The number of items the message says it carries, when the mapping reads one."""
        expr = self._plan.count
        if expr is None:
            return None, ""
        ev = self._top(doc)
        raw, path = ev.first((expr,))
        where = path or ev.run.nearest(expr, ev.node, ev.node_path)
        try:
            declared = convert.integer(raw)
        except ConversionError as exc:
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH, exc.message, [{"path": where}]
            ) from None
        if declared is None:
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH, "the item count is missing", [{"path": where}]
            )
        return declared, where

    def _items(self, doc: SourceDocument) -> Iterator[tuple[Any, Any]]:
        if self.kind is Kind.NDJSON:
            yield from self._lines(doc)
            return
        assert self._plan.items_path is not None
        ev = self._top(doc)
        for node, _ in ev.run.nodes(self._plan.items_path, ev.node, ev.node_path, True):
            yield ev.run, node

    def _lines(self, doc: SourceDocument) -> Iterator[tuple[Any, Any]]:
        """NDJSON item lines, read one at a time; each line is checked against the schema
        as it comes, and a line that is neither the header nor an item breaks the file."""
        plan = self._plan
        for position, (number, value) in enumerate(iter_ndjson(doc)):
            if self.schema is not None:
                problems = json_problems(self.schema, value)
                if problems:
                    raise SchemaInvalid(self.schema, [
                        p | {"path": f"line {number} {p['path']}".strip()} for p in problems
                    ])
            if position == 0 and plan.header:
                continue
            if not isinstance(value, dict) or any(
                _text_of(value.get(k)) != want for k, want in plan.where
            ):
                key, want = plan.where[0]
                raise SchemaInvalid(self.schema or self.file, [{
                    "path": f"line {number} /{key}",
                    "message": f"expected an item line ({key} = {want!r})",
                }])
            run = _JsonRun(value, f"line {number} ")
            yield run, run.top()[0]

    def _item(
        self, index: int, run: Any, node: Any, hits: set[tuple[str, str]] | None
    ) -> CanonicalItem | ItemError:
        source_path = run.item_path(node)
        ev = _Eval(run, {}, [], hits, self.kind is Kind.XML)
        values = self._eval(self._plan.item, node, "", source_path, ev)
        item_id = values.pop("item_id", None)
        if ev.errors:
            path, error = ev.errors[0]
            unknown = isinstance(error, UnknownCode)
            code = ItemCode.CODE_UNKNOWN if unknown else ItemCode.VALUE_INVALID
            more = f" (and {len(ev.errors) - 1} more)" if len(ev.errors) > 1 else ""
            return ItemError(index, item_id, path, code, f"{error.message}{more}")
        return CanonicalItem(
            item_id=item_id or "", source_path=source_path, field_paths=ev.paths, **values
        )

    def _eval(
        self, table: _Table, node: Any, prefix: str, node_path: str, ev: _Eval, position: int = 1
    ) -> Any:
        out: dict[str, Any] = {}
        paths = ev.paths
        ev.node, ev.node_path, ev.prefix = node, node_path, prefix
        children = ev.run.children(node)
        for f in table.fields:
            path = ""
            try:
                raw, path = f.read(ev, children)
                if raw is None:
                    out[f.name] = None
                elif f.plain:
                    out[f.name] = raw.strip() if isinstance(raw, str) else convert.text(raw)
                else:
                    out[f.name] = f.convert(f, raw, path, ev, out)
            except ConversionError as exc:
                ev.errors.append((path, exc))
                out[f.name] = None
            except _Failed as failed:
                ev.errors.append((failed.path, failed.error))
                out[f.name] = None
            if path:
                paths[prefix + f.name] = path
        for sub in table.subtables:
            out[sub.name] = self._eval_sub(sub, node, prefix, node_path, ev)
        try:
            return table.build(out, position)
        except ConversionError as exc:
            ev.errors.append((node_path, exc))
            return None

    def _eval_sub(self, sub: _Table, node: Any, prefix: str, node_path: str, ev: _Eval) -> Any:
        name = prefix + sub.name
        run = ev.run
        if sub.context is None:
            contexts = [(node, node_path)]
        else:
            contexts = run.nodes(sub.context, node, node_path, sub.many)
            if contexts and ev.hits is not None:
                ev.hits.add((sub.context.key, sub.context.text))
        if not sub.many:
            if not contexts:  # its fields' errors point at the context, like a schema's
                return sub.build({f.name: None for f in sub.fields}, 1)
            here, here_path = contexts[0]
            ev.paths[name] = here_path
            return self._eval(sub, here, name + ".", here_path, ev)
        if not contexts:
            return []
        assert sub.context is not None
        ev.paths[name] = run.list_path(sub.context, node, node_path)
        entries = []
        for position, (here, here_path) in enumerate(contexts, start=1):
            entry_name = f"{name}[{position}]"
            ev.paths[entry_name] = here_path
            entry = self._eval(sub, here, entry_name + ".", here_path, ev, position)
            if entry is not None:
                entries.append(entry)
        return entries


def _text_of(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return None
    return convert.text(("true" if value else "false") if isinstance(value, bool) else value)


def _header(headers: abc.Mapping[str, str], name: str) -> str | None:
    if name in headers:
        return headers[name]
    lower = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lower), None)


def _display(source: Traversable) -> str:
    """A short name for messages: ``adapters/alpha/itmatt-11.toml`` when under adapters/."""
    parts = str(source).replace("\\", "/").split("/")
    if "adapters" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("adapters") - 1 :])
    return str(source)


# --- loading: extends, merge, checks --------------------------------------------------------

# Tables merged key by key with the file they extend; any other key replaces the base's.
_MERGED = {
    "namespaces", "detect", "message_ref", "items", "item", "party", "party.address",
    "sender", "sender.address", "addressee", "addressee.address", "contents", "documents",
    "transport", "codes", "patterns",
}
_ORIGIN = "__origin__"


def _read_with_extends(source: Traversable, seen: frozenset[str] | set[str]) -> dict[str, Any]:
    name = _display(source)
    if name in seen:
        raise MappingError(name, "extends", "files extend each other in a cycle")
    try:
        spec = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(name, "", str(exc)) from None
    _mark_origin(spec, name, "")
    base_name = spec.pop("extends", None)
    if base_name is None:
        return spec
    if not isinstance(base_name, str):
        raise MappingError(name, "extends", "the file name of the mapping this one builds on")
    base = _read_with_extends(source.parent.joinpath(base_name), {*seen, name})  # type: ignore[attr-defined]
    return _merge(base, spec, "")


def _mark_origin(spec: dict[str, Any], file: str, where: str) -> None:
    """Remember which file set each key, so that errors and lint name the right file."""
    spec[_ORIGIN] = {key: file for key in spec}
    for key, value in spec.items():
        if isinstance(value, dict) and f"{where}{key}" in _MERGED:
            _mark_origin(value, file, f"{where}{key}.")


def _merge(base: dict[str, Any], child: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    out[_ORIGIN] = {**base.get(_ORIGIN, {}), **child.get(_ORIGIN, {})}
    for key, value in child.items():
        here = f"{where}{key}"
        if key == _ORIGIN:
            continue
        if here in _MERGED and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, here + ".")
        else:
            out[key] = value
    return out


def _origins(spec: dict[str, Any], where: str = "") -> dict[str, str]:
    out = {}
    for key, file in spec.get(_ORIGIN, {}).items():
        out[f"{where}{key}"] = file
        value = spec.get(key)
        if isinstance(value, dict):
            out.update(_origins(value, f"{where}{key}."))
    return out


def _origin_of(origins: dict[str, str], key: str, default: str) -> str:
    """The file that set ``key`` or the nearest table around it."""
    while key:
        if key in origins:
            return origins[key]
        key = key.rpartition(".")[0]
    return default


def _clean(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if k != _ORIGIN}


_TOP_KEYS = {
    "operator", "format", "version", "kind", "schema", "namespaces", "detect", "message_ref",
    "items", "item", "party", "sender", "addressee", "contents", "documents", "transport",
    "codes", "patterns", _ORIGIN,
}


class _Compiler:
    """Checks a merged mapping spec and compiles it into a :class:`_Plan`."""

    def __init__(self, spec: dict[str, Any], file: str) -> None:
        self.spec = spec
        self.file = file
        self.origins = _origins(spec)
        self.lint_paths: list[tuple[str, str]] = []
        self._only(spec, "", _TOP_KEYS)
        for key in ("operator", "format", "version"):
            self.text(key)
        try:
            self.kind = Kind(self.text("kind"))
        except ValueError:
            raise self.fail("kind", f"{spec['kind']!r} is not one of xml, json, ndjson") from None
        namespaces = self._strings(spec.get("namespaces", {}), "namespaces")
        self.syntax: _XmlSyntax | _JsonSyntax = (
            _XmlSyntax(namespaces) if self.kind is Kind.XML else _JsonSyntax()
        )
        self.codes = {
            name: self._strings(table, f"codes.{name}")
            for name, table in _clean(self._table_of(spec, "codes")).items()
        }
        self.patterns = {
            name: self._regexes(table, f"patterns.{name}")
            for name, table in _clean(self._table_of(spec, "patterns")).items()
        }
        self.converter = _Converter(self.patterns)

    def fail(self, key: str, message: str) -> MappingError:
        return MappingError(_origin_of(self.origins, key, self.file), key, message)

    def text(self, key: str) -> str:
        value = self.spec.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "required: a string")
        return value

    def plan(self) -> _Plan:
        detect = self._only(
            self._table_of(self.spec, "detect"), "detect.", {"root", "has", "equals"}
        )
        ref = self._only(
            self._table_of(self.spec, "message_ref"), "message_ref.", {"path", "header", "fallback"}
        )
        if ref.get("fallback") not in (None, "sha256"):
            raise self.fail("message_ref.fallback", 'the only fallback is "sha256"')
        items = self._only(
            self._table_of(self.spec, "items"), "items.", {"path", "where", "header", "count"}
        )
        plan = _Plan(
            roots=self._roots(detect),
            has=tuple(self.expr(h, "detect.has", lint=False) for h in _listed(detect, "has")),
            equals=tuple(
                (self.expr(p, f"detect.equals.{p}", lint=False), _text_of(v) or "")
                for p, v in _clean(self._table_of(detect, "equals")).items()
            ),
            ref_path=self._optional(ref, "path", "message_ref.path"),
            ref_header=ref.get("header"),
            ref_fallback=ref.get("fallback"),
            items_path=self._optional(items, "path", "items.path"),
            where=tuple(
                (k.lstrip("/"), _text_of(v) or "")
                for k, v in _clean(self._table_of(items, "where")).items()
            ),
            header=bool(items.get("header", False)),
            count=self._optional(items, "count", "items.count"),
            item=self._item_table(),
            lint_paths=tuple(self.lint_paths),
            origins=self.origins,
        )
        if not (plan.roots or plan.has or plan.equals):
            raise self.fail("detect", "say how to recognise the format: root, has or equals")
        if self.kind is Kind.NDJSON and not plan.where:
            raise self.fail("items.where", "required for ndjson: the field values of item lines")
        if self.kind is not Kind.NDJSON and plan.items_path is None:
            raise self.fail("items.path", "required: the path of the items")
        return plan

    # -- small checks --

    def _only(self, table: Any, where: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.fail(where.rstrip("."), "must be a table")
        for key in table:
            if key != _ORIGIN and key not in allowed:
                known = ", ".join(sorted(allowed - {_ORIGIN}))
                raise self.fail(f"{where}{key}", f"unknown key; known: {known}")
        return _clean(table)

    def _table_of(self, spec: dict[str, Any], key: str) -> dict[str, Any]:
        table = spec.get(key, {})
        if not isinstance(table, dict):
            raise self.fail(key, "must be a table")
        return table

    def _strings(self, table: Any, where: str) -> dict[str, str]:
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table")
        out = _clean(table)
        for key, value in out.items():
            if not isinstance(value, str):
                raise self.fail(f"{where}.{key}", "must be a string")
        return out

    def _regexes(self, table: Any, where: str) -> list[tuple[str, re.Pattern[str]]]:
        out = []
        for result, pattern in self._strings(table, where).items():
            try:
                out.append((result, re.compile(pattern)))
            except re.error as exc:
                raise self.fail(f"{where}.{result}", f"bad regular expression: {exc}") from None
        return out

    def _roots(self, detect: dict[str, Any]) -> frozenset[str]:
        roots = _listed(detect, "root")
        if roots and not isinstance(self.syntax, _XmlSyntax):
            raise self.fail("detect.root", "only XML documents have a root element")
        try:
            return frozenset(self.syntax.qname(r) for r in roots)  # type: ignore[union-attr]
        except ValueError as exc:
            raise self.fail("detect.root", str(exc)) from None

    def expr(self, text: Any, key: str, *, lint: bool = True) -> _Expr:
        if not isinstance(text, str):
            raise self.fail(key, f"a path must be a string, not {text!r}")
        try:
            compiled = self.syntax.compile(text, key)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None
        if lint:
            self.lint_paths.append((key, text))
        return compiled

    def _optional(self, table: dict[str, Any], name: str, key: str) -> _Expr | None:
        return self.expr(table[name], key, lint=False) if name in table else None

    # -- tables --

    def _item_table(self) -> _Table:
        spec = self.spec
        item = self._only(self._table_of(spec, "item"), "item.", set(_ITEM_FIELDS))
        if "item_id" not in item:
            raise self.fail("item.item_id", "required: where the item identifier is")
        fields = tuple(self._field(k, v, _ITEM_FIELDS[k], f"item.{k}") for k, v in item.items())
        party = _flatten_address(self._table_of(spec, "party"))
        subtables = [self._party(party, name) for name in ("sender", "addressee")]
        for name, known, build, many in (
            ("contents", _CONTENT_FIELDS, _build_line, True),
            ("documents", _DOCUMENT_FIELDS, _build_document, True),
            ("transport", _TRANSPORT_FIELDS, _build_transport, False),
        ):
            if name in spec:
                table = self._only(spec[name], f"{name}.", {"path", *known})
                subtables.append(self._table(name, table, known, build, many=many, where=name))
        return _Table("", None, False, fields, tuple(subtables), _build_item)

    def _party(self, template: dict[str, Any], name: str) -> _Table:
        """Sender or addressee: the shared [party] fields, the party's own ones on top,
        with ``{var}`` in paths replaced by the party's ``vars``."""
        own = _flatten_address(self._table_of(self.spec, name))
        own = self._only(own, f"{name}.", {"path", "vars", "tax_ids", *_PARTY_FIELDS})
        variables = self._strings(own.pop("vars", {}), f"{name}.vars")
        context = own.pop("path", None)
        merged = _clean(_merge(template, own, ""))
        tax_ids = merged.pop("tax_ids", None)
        fields = []
        for key, spec in merged.items():
            where = f"{name}.{key}" if key in own else f"party.{key}"
            if key not in _PARTY_FIELDS:
                raise self.fail(where, f"unknown party field; known: {', '.join(_PARTY_FIELDS)}")
            fields.append(self._field(key, _substitute(spec, variables), _PARTY_FIELDS[key], where))
        fields.sort(key=lambda f: f.conversion == "phone")  # a phone needs the country first
        subtables: tuple[_Table, ...] = ()
        if tax_ids is not None:
            where = f"{name}.tax_ids" if "tax_ids" in own else "party.tax_ids"
            table = _substitute(tax_ids, variables)
            table = self._only(table, f"{where}.", {"path", *_TAX_ID_FIELDS})
            subtables = (self._table(
                "tax_ids", table, _TAX_ID_FIELDS, _build_tax_id, many=True, where=where
            ),)
        ctx = self.expr(_substitute(context, variables), f"{name}.path") if context else None
        return _Table(name, ctx, False, tuple(fields), subtables, _build_party)

    def _table(
        self, name: str, table: dict[str, Any], known: dict[str, FieldType],
        build: Callable[[dict[str, Any], int], Any], *, many: bool, where: str,
    ) -> _Table:
        context = table.pop("path", None)
        if many and context is None:
            raise self.fail(f"{where}.path", "required: the path of each entry")
        ctx = self.expr(context, f"{where}.path") if context is not None else None
        fields = tuple(self._field(k, v, known[k], f"{where}.{k}") for k, v in table.items())
        return _Table(name, ctx, many, fields, (), build)

    # -- fields --

    def _field(self, name: str, spec: Any, kind: FieldType, key: str) -> _Field:
        if isinstance(spec, str) or (kind == LINES and isinstance(spec, list)):
            spec = {"path": spec}
        if not isinstance(spec, dict):
            raise self.fail(key, "a field is a path, or a table such as { path = ... }")
        spec = _clean(spec)
        sources = [s for s in _SOURCES if s in spec]
        if len(sources) != 1:
            raise self.fail(key, f"give exactly one of {', '.join(_SOURCES)}")
        source = sources[0]
        conversion = self._conversion(spec, kind, key)
        allowed = {*_SOURCES, "sep", "convert", *_PARAMS[conversion]}
        for param in spec:
            if param not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(f"{key}.{param}", f"not a parameter of {conversion!r}: {known}")
        if source == "sum" and conversion not in ("decimal", "integer", "weight", "money"):
            raise self.fail(f"{key}.sum", "sum adds numbers: use it on decimal, weight or money")
        if kind == LINES and source != "path":
            raise self.fail(key, "address lines take path = a path or a list of paths")
        texts = [] if source == "const" else spec[source]
        texts = [texts] if isinstance(texts, str) else texts
        if source in ("first", "join") and (not isinstance(texts, list) or len(texts) < 2):
            raise self.fail(f"{key}.{source}", "give a list of at least two paths")
        params = {
            p: self.expr(v, f"{key}.{p}") if p in _PATH_PARAMS else v
            for p, v in spec.items()
            if p in _PARAMS[conversion]
        }
        exprs = tuple(self.expr(t, key) for t in texts)
        made = _Field(
            name=name, key=key, source=source, exprs=exprs,
            const=spec.get("const"), sep=spec.get("sep", " "), conversion=conversion,
            params=params, kind=kind, table=self._code_table(params, kind, key),
            convert=getattr(self.converter, conversion),
            plain=conversion == "text" and not params and kind != LINES,
            child=_child_step(exprs[0]) if source == "path" and kind != LINES else None,
        )
        self._check_params(params, key)
        if source == "const":
            try:
                made.convert(made, made.const, "", _Eval(None, {}, [], None), {})
            except ConversionError as exc:
                raise self.fail(f"{key}.const", exc.message) from None
        return made

    def _conversion(self, spec: dict[str, Any], kind: FieldType, key: str) -> str:
        allowed = _conversions_for(kind)
        if "convert" in spec:
            conversion = spec["convert"]
        elif "codes" in spec:
            conversion = "code"
        elif "patterns" in spec:
            conversion = "match"
        else:
            conversion = allowed[0]
        if conversion not in allowed:
            raise self.fail(
                f"{key}.convert",
                f"{conversion!r} is not a conversion for this field; use {', '.join(allowed)}",
            )
        if conversion == "code" and isinstance(kind, str) and "codes" not in spec:
            raise self.fail(f"{key}.codes", "name the code list ([codes.NAME]) to use")
        if conversion == "match" and "patterns" not in spec:
            raise self.fail(f"{key}.patterns", "name the pattern list ([patterns.NAME]) to use")
        return conversion

    def _code_table(self, params: dict[str, Any], kind: FieldType, key: str) -> dict | None:
        """The code list a field uses, its values turned into the field's enum members."""
        name = params.get("codes")
        if name is None:
            return None if isinstance(kind, str) else {m.value: m for m in kind}
        if name not in self.codes:
            raise self.fail(f"{key}.codes", f"no code list [codes.{name}] in the mapping")
        if isinstance(kind, str):
            return self.codes[name]
        allowed = {m.value: m for m in kind}
        table = {}
        for code_value, canonical in self.codes[name].items():
            if canonical not in allowed:
                raise self.fail(
                    f"codes.{name}.{code_value}",
                    f"{canonical!r} is not a canonical {key.rpartition('.')[2]}: "
                    f"{', '.join(allowed)}",
                )
            table[code_value] = allowed[canonical]
        return table

    def _check_params(self, params: dict[str, Any], key: str) -> None:
        patterns = params.get("patterns")
        if patterns is not None and patterns not in self.patterns:
            raise self.fail(f"{key}.patterns", f"no pattern list [patterns.{patterns}]")
        for fixed, path in (("unit", "unit_path"), ("currency", "currency_path")):
            if fixed in params and path in params:
                raise self.fail(f"{key}.{fixed}", f"give {fixed} or {path}, not both")
        if "unit" in params:
            try:
                convert.weight_kg(1, params["unit"])
            except ConversionError as exc:
                raise self.fail(f"{key}.unit", exc.message) from None
        if "zone" in params:
            try:
                ZoneInfo(params["zone"])
            except (ZoneInfoNotFoundError, ValueError):
                raise self.fail(f"{key}.zone", f"unknown time zone {params['zone']!r}") from None


def _child_step(expr: _Expr) -> tuple[str, str] | None:
    """(key, path step) when the path is one child element (XML) or one key (JSON)."""
    if expr.steps is None or len(expr.steps) != 1 or expr.attr is not None:
        return None
    step = expr.steps[0]
    return step if isinstance(step, tuple) else (step, expr.suffix)


def _listed(table: dict[str, Any], key: str) -> list[Any]:
    value = table.get(key, [])
    return [value] if isinstance(value, str) else list(value)


def _flatten_address(table: dict[str, Any]) -> dict[str, Any]:
    """``address.street = ...`` in TOML nests a table; fields are named flat."""
    if not isinstance(table.get("address"), dict):
        return table
    address = table["address"]
    out = {k: v for k, v in table.items() if k != "address"}
    out.update({f"address.{k}": v for k, v in _clean(address).items()})
    out[_ORIGIN] = {
        **table.get(_ORIGIN, {}),
        **{f"address.{k}": f for k, f in address.get(_ORIGIN, {}).items()},
    }
    return out


def _substitute(spec: Any, variables: dict[str, str]) -> Any:
    """Replace ``{name}`` in every path of a party field by the party's variable."""
    if not variables:
        return spec
    if isinstance(spec, str):
        for name, value in variables.items():
            spec = spec.replace("{" + name + "}", value)
        return spec
    if isinstance(spec, list):
        return [_substitute(s, variables) for s in spec]
    if isinstance(spec, dict):
        paths = {*_SOURCES, *_PATH_PARAMS, "path", "scheme", "value"} - {"const"}
        return {k: _substitute(v, variables) if k in paths else v for k, v in spec.items()}
    return spec
