"""``aedgw adapters new``: the files a new operator format starts from, in a checkout.

A mapping skeleton that loads (every table the format needs, TODO paths that lint lists
until they are filled), a permissive schema stub, a fixture folder README saying how to
fill it, and a test for the operator's fixtures. Given the operator's sample file, the
skeleton is shaped after it (root element or top keys, where the items are, every value
of the first item with its path), which saves the engineer most of the typing; the sample
becomes the first fixture, its expected output generated and marked as unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import orjson
from lxml import etree

from adapters.registry import Registry
from gateway.document import Document, Kind, iter_ndjson, parse
from gateway.ingest.receive import dry_run
from gateway.onboarding import registry_for

NAME = re.compile(r"[a-z][a-z0-9_-]*")
CONTENT_TYPES = {
    Kind.XML: "application/xml",
    Kind.JSON: "application/json",
    Kind.NDJSON: "application/x-ndjson",
}
CHECKOUT = ("adapters", "xsd", "fixtures", "tests")
MAX_LEAVES = 80


class ScaffoldError(Exception):
    """The files cannot be written: not a checkout, a bad name, or files already there."""


@dataclass
class Shape:
    """What the sample says about the format, as TOML lines for the skeleton."""

    detect: list[str] = field(default_factory=lambda: ['has = ["/TODO"]'])
    items: list[str] = field(default_factory=lambda: ['path = "/TODO"'])
    namespaces: list[str] = field(default_factory=list)
    contents: str = "TODO"
    leaves: list[tuple[str, Any]] = field(default_factory=list)
    """The first item's values by path relative to the item (its content lines left out)."""
    line_leaves: list[tuple[str, Any]] = field(default_factory=list)
    """The first content line's values by path relative to the line."""
    required: list[str] = field(default_factory=list)
    """JSON: the sample's top-level keys (the schema stub requires them)."""
    root: tuple[str | None, str] = (None, "TODO")
    """XML: the root element's namespace and local name."""


@dataclass(frozen=True)
class Plan:
    """The files ``adapters new`` writes, by path relative to the checkout."""

    root: Path
    operator: str
    kind: Kind
    files: dict[str, str | bytes]

    @property
    def mapping(self) -> str:
        return f"adapters/{self.operator}/{self.operator}-{self.kind}.toml"


def plan(root: Path, operator: str, kind: Kind, sample: Path | None = None) -> Plan:
    """Everything to write, checked: a checkout, a usable name, no file overwritten."""
    missing = [d for d in CHECKOUT if not (root / d).is_dir()]
    if missing:
        raise ScaffoldError(f"{root} is not a checkout of the gateway: no {', '.join(missing)}")
    if not NAME.fullmatch(operator):
        raise ScaffoldError(f"{operator!r}: an operator code is lower-case letters, digits, - or _")
    raw = sample.read_bytes() if sample is not None else None
    shape = infer(parse(raw, CONTENT_TYPES[kind])) if raw is not None else blank(kind)
    fmt = f"{operator}-{kind}"
    schema = f"{fmt}.xsd" if kind is Kind.XML else f"{fmt}.schema.json"
    ident = operator.replace("-", "_")
    values = {
        "operator": operator,
        "format": fmt,
        "kind": str(kind),
        "schema": schema,
        "ident": ident,
        "ext": str(kind),
        "content_type": CONTENT_TYPES[kind],
    }
    files: dict[str, str | bytes] = {
        f"adapters/{operator}/{fmt}.toml": skeleton(kind, shape, values),
        f"xsd/{schema}": schema_stub(kind, shape, values),
        f"fixtures/{operator}/README.md": _render(_template("fixtures-README.md"), values)
        + (_render(_template("fixtures-README-sample.md"), values) if raw is not None else ""),
        f"tests/test_{ident}_fixtures.py": _render(_template("test_fixtures.py.txt"), values),
    }
    if raw is not None:
        files[f"fixtures/{operator}/sample.{kind}"] = raw
    existing = sorted(p for p in files if (root / p).exists())
    if existing:
        raise ScaffoldError(f"refusing to overwrite {', '.join(existing)} in {root}")
    return Plan(root, operator, kind, files)


def write(scaffold: Plan) -> list[Path]:
    """Write the planned files; with a sample, its expected output from the skeleton."""
    written = []
    for relative, content in scaffold.files.items():
        path = scaffold.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    sample = scaffold.root / f"fixtures/{scaffold.operator}/sample.{scaffold.kind}"
    if sample.exists():
        registry = registry_for(scaffold.root)
        written.append(write_expected(registry, scaffold.operator, sample))
    return written


def write_expected(registry: Registry, operator: str, source: Path) -> Path:
    """``<case>.expected.json`` from the current translation: a draft to check by hand."""
    content_type = CONTENT_TYPES[Kind(source.suffix.lstrip("."))]
    result = dry_run(
        source.read_bytes(),
        content_type,
        registry.candidates(registry.formats_of(operator)),
        operator=operator,
    )
    expected = {"request": {"content_type": content_type, "headers": {}}, **result}
    target = source.with_name(source.name.removesuffix(source.suffix) + ".expected.json")
    target.write_bytes(orjson.dumps(expected, option=orjson.OPT_INDENT_2) + b"\n")
    return target


# --- the sample's shape --------------------------------------------------------------------


def blank(kind: Kind) -> Shape:
    """The shape when no sample is given: every path a TODO."""
    if kind is Kind.XML:
        return Shape(detect=['root = "TODO"'], items=['path = "TODO"'])
    if kind is Kind.NDJSON:
        return Shape(items=["header = false  # true: line 1 is a header", *NDJSON_ITEMS])
    return Shape()


NDJSON_ITEMS = [
    'where = { "TODO" = "TODO" }  # the key and value that mark an item line',
    '# count = "/TODO"             # where the header says how many items follow',
]


def infer(doc: Document) -> Shape:
    if doc.kind is Kind.XML:
        return _xml_shape(doc.root)
    if doc.kind is Kind.JSON:
        return _json_shape(doc.root)
    return _ndjson_shape([value for _, value in iter_ndjson(doc)])


def _json_shape(root: Any) -> Shape:
    shape = Shape()
    if not isinstance(root, dict):
        return shape
    shape.required = list(root)
    shape.detect = [f"has = [{', '.join(_toml('/' + _escape(k)) for k in root)}]"]
    key = next((k for k, v in root.items() if _dict_list(v)), None)
    if key is None:
        return shape
    path, entries = "/" + _escape(key), root[key]
    wrapper = _wrapper(entries)
    if wrapper is not None:  # [{"shipment": {...}}, ...]: the items are the inner objects
        path, entries = f"{path}/*/{_escape(wrapper)}", [e[wrapper] for e in entries]
    shape.items = [f"path = {_toml(path)}"]
    while (inner := _groups(entries)) is not None:  # arrays of arrays: the inner ones
        shape.items.append(
            f"# each entry of {path} groups items in {inner!r}: every {inner} entry of "
            "every one is an item"
        )
        path = f"{path}/*/{_escape(inner)}"
        entries = [x for e in entries for x in e[inner]]
        shape.items[0] = f"path = {_toml(path)}"
    _json_item(shape, entries[0])
    return shape


def _groups(entries: list[Any]) -> str | None:
    """The key under which each entry holds a list of items, when the entries are groups
    of items (consignments of parcels) rather than items: every entry has it, and its
    entries have content lines of their own."""
    if not entries or not all(isinstance(e, dict) for e in entries):
        return None
    for key, value in entries[0].items():
        if not _dict_list(value) or not all(_dict_list(e.get(key)) for e in entries):
            continue
        inner = [x for e in entries for x in e[key]]
        if any(_dict_list(v) for x in inner for v in x.values()):
            return key
    return None


def _wrapper(entries: list[dict[str, Any]]) -> str | None:
    """The one key every entry of a list wraps its object in, if they all do."""
    keys = {tuple(e) for e in entries}
    if len(keys) != 1 or len(next(iter(keys))) != 1:
        return None
    key = next(iter(keys))[0]
    return key if all(isinstance(e[key], dict) for e in entries) else None


def _ndjson_shape(lines: list[Any]) -> Shape:
    shape = blank(Kind.NDJSON)
    objects = [v for v in lines if isinstance(v, dict)]
    if not objects:
        return shape
    first, rest = objects[0], objects[1:]
    header = bool(rest) and set(first) != set(rest[0])
    items = rest if header else objects
    marker = next(
        (
            k
            for k, v in items[0].items()
            if isinstance(v, str)
            and all(o.get(k) == v for o in items)
            and (not header or first.get(k) != v)
        ),
        None,
    )
    if header:
        shape.detect = [f"has = [{', '.join(_toml('/' + _escape(k)) for k in first)}]"]
        if marker is not None and isinstance(first.get(marker), str):
            shape.detect.append(f"equals = {{ {_toml('/' + marker)} = {_toml(first[marker])} }}")
    elif marker is not None:
        shape.detect = [f"equals = {{ {_toml('/' + marker)} = {_toml(items[0][marker])} }}"]
    where = f"where = {{ {_toml(marker)} = {_toml(items[0][marker])} }}" if marker else None
    shape.items = [
        "header = true  # line 1 is a header, not an item" if header else "header = false",
        where or NDJSON_ITEMS[0],
        NDJSON_ITEMS[1],
    ]
    _json_item(shape, items[0])
    return shape


def _json_item(shape: Shape, item: Any) -> None:
    if not isinstance(item, dict):
        return
    lines = next(((p, v) for p, v in _json_nodes(item) if _dict_list(v)), None)
    if lines is not None:
        shape.contents = lines[0]
        shape.line_leaves = list(_json_leaves(lines[1][0]))[:MAX_LEAVES]
    shape.leaves = [
        (path, value)
        for path, value in _json_leaves(item)
        if lines is None or not path.startswith(lines[0] + "/")
    ][:MAX_LEAVES]


def _json_nodes(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (relative path, value) below ``value``, first list elements only."""
    children = value.items() if isinstance(value, dict) else enumerate(value[:1])
    for key, child in children:
        path = f"{prefix}{_escape(key)}"
        yield path, child
        if isinstance(child, dict | list):
            yield from _json_nodes(child, path + "/")


def _json_leaves(item: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(item, dict | list):
        for path, value in _json_nodes(item):
            if not isinstance(value, dict | list):
                yield path, value


def _dict_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _escape(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _xml_shape(root: etree._Element) -> Shape:
    prefixes = _prefixes(root)
    shape = Shape(root=(etree.QName(root).namespace, etree.QName(root).localname))
    shape.namespaces = [f"{p} = {_toml(uri)}" for uri, p in prefixes.items()] or [
        "# none: the sample uses no namespace"
    ]

    def step(el: etree._Element) -> str:
        qname = etree.QName(el)
        return (
            f"{prefixes[qname.namespace]}:{qname.localname}" if qname.namespace else qname.localname
        )

    shape.detect = [f"root = {_toml(step(root))}"]
    items = _repeated(root)
    if not items:
        return shape
    item = items[0][0]
    shape.items = [f"path = {_toml('/'.join(step(e) for e in _ancestry(item, root)))}"]
    groups = _repeated(item)
    entries = max(groups, key=lambda g: len(g[0]), default=[])  # lines have the most fields
    if entries:
        shape.contents = "/".join(step(e) for e in _ancestry(entries[0], item))
        shape.line_leaves = _xml_leaves(entries[0], step, [])
    shape.leaves = _xml_leaves(item, step, entries)
    return shape


def _prefixes(root: etree._Element) -> dict[str, str]:
    """A prefix for every namespace of the document: its own where it has one, else o,
    o2, o3… (a default namespace has no prefix, and XPath needs one)."""
    out: dict[str, str] = {}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for prefix, uri in el.nsmap.items():
            if uri not in out and prefix and prefix not in out.values():
                out[uri] = prefix
        uri = etree.QName(el).namespace
        if uri and uri not in out:
            out[uri] = next(
                p for n in range(1, 99) if (p := f"o{n if n > 1 else ''}") not in out.values()
            )
    return out


def _repeated(top: etree._Element) -> list[list[etree._Element]]:
    """Every group of same-named siblings below ``top``, breadth first: lists' entries."""
    groups = []
    level = [top]
    while level:
        for el in level:
            children = [c for c in el if isinstance(c.tag, str)]
            tags = [c.tag for c in children]
            seen = set()
            for child in children:
                if tags.count(child.tag) > 1 and child.tag not in seen:
                    seen.add(child.tag)
                    groups.append([c for c in children if c.tag == child.tag])
        level = [c for el in level for c in el if isinstance(c.tag, str)]
    return groups


def _xml_leaves(top: etree._Element, step: Any, skip: list[etree._Element]) -> list[Any]:
    """Every attribute and text-only element below ``top`` by relative XPath, except in
    the ``skip`` subtrees (the content lines, listed apart)."""
    leaves: list[tuple[str, Any]] = []
    for el in top.iter():
        if not isinstance(el.tag, str) or any(s is el or s in el.iterancestors() for s in skip):
            continue
        path = "/".join(step(e) for e in _ancestry(el, top)) if el is not top else "."
        leaves.extend((f"{path}/@{a}".removeprefix("./"), v) for a, v in el.attrib.items())
        text = (el.text or "").strip()  # CDATA included: lxml gives it as text
        if el is top:
            if text:  # the element's own text: "." ("<g hs=...><![CDATA[Tablet]]></g>")
                leaves.append((".", text))
        elif len(el) == 0 and (text or not el.attrib):
            leaves.append((path, text))
    return leaves[:MAX_LEAVES]


def _ancestry(el: etree._Element, top: etree._Element) -> list[etree._Element]:
    """The elements from below ``top`` down to ``el``."""
    chain = []
    node: etree._Element | None = el
    while node is not None and node is not top:
        chain.append(node)
        node = node.getparent()
    return chain[::-1]


# --- rendering -----------------------------------------------------------------------------


def skeleton(kind: Kind, shape: Shape, values: dict[str, str]) -> str:
    leaves = [f"#   {path} = {_show(value)}" for path, value in shape.leaves]
    if shape.line_leaves:
        leaves.append(f"# and of its first content line, relative to the line ({shape.contents}):")
        leaves.extend(f"#   {path} = {_show(value)}" for path, value in shape.line_leaves)
    namespaces = "\n".join(shape.namespaces) or 'o = "urn:TODO"'
    return _render(
        _template("mapping.toml"),
        values,
        paths=PATHS[kind],
        namespaces=f"[namespaces]  # the prefixes of every path\n{namespaces}\n\n"
        if kind is Kind.XML
        else "",
        ref="TODO" if kind is Kind.XML else "/TODO",
        detect="\n".join(shape.detect),
        items="\n".join(shape.items),
        contents=_toml(shape.contents),
        leaves="\n".join(leaves) or "#   (no sample was given: see the operator's spec)",
    )


def schema_stub(kind: Kind, shape: Shape, values: dict[str, str]) -> str:
    if kind is Kind.XML:
        namespace, local = shape.root
        target = f'\n           targetNamespace="{namespace}"' if namespace else ""
        return _render(_template("schema.xsd"), values, root=local, target=target)
    stub = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:aed-gateway:schema:{values['format']}:1",
        "title": f"{values['format']} version 1",
        "description": JSON_STUB_NOTE,
        "type": "object",
        "required": shape.required if kind is Kind.JSON else [],
    }
    return orjson.dumps(stub, option=orjson.OPT_INDENT_2).decode() + "\n"


def _render(template: str, values: dict[str, str], **more: str) -> str:
    return Template(template).substitute(values, **more)


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return orjson.dumps(text).decode()


def _show(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


# --- templates: files in gateway/templates (string.Template: $name is replaced, $$ is a
# dollar), read where the package is installed --------------------------------------------


@cache
def _template(name: str) -> str:
    return resources.files("gateway").joinpath("templates", name).read_text()


PATHS = {
    Kind.XML: "Paths: XPath 1.0 with the [namespaces] prefixes, relative to the table's element;\n"
    '# "/..." starts from the root.',
    Kind.JSON: 'Paths: keys joined by "/", relative to the table\'s object; ".." is one level\n'
    '# up, "*" every element, and "/..." a JSON Pointer from the root.',
    Kind.NDJSON: 'Paths: keys joined by "/", relative to the table\'s object; ".." is one level\n'
    '# up, "*" every element, and "/..." a JSON Pointer into the item\'s own line.',
}

JSON_STUB_NOTE = (
    "A permissive stub from `aedgw adapters new` (NDJSON: it validates each line). TODO: "
    "required keys, types, code lists and additionalProperties false, so that a malformed "
    "message is refused as a whole (422 schema_invalid) with a JSON pointer; leave to the "
    "canonical rules what they check per item (S10, ISO codes, HS shape, required fields)."
)
