"""JSON paths in mapping files: ``a/b/0`` relative to the context, ``/a/b`` from the root
(a JSON Pointer; NDJSON: from the item's own line), ``..`` one level up, ``*`` every
element, ``.`` the context itself. Escapes per RFC 6901 (``~1`` is ``/``, ``~0`` is ``~``).

Paths of plain keys take dict lookups; the others walk nodes that know their parent, so
that ``../../currency`` from a goods line costs two steps. Values are reported at their
JSON Pointer (``/parcels/2/trackingNo``; NDJSON ``line 3 /lines/0/value``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.convert import ConversionError, Raw
from adapters.mapping.paths import Context, Unreadable, present


class JsonSyntax:
    """Compiles JSON paths (no namespaces, no trial run: every string is a path)."""

    @staticmethod
    def compile(text: str, key: str) -> JsonPath:
        absolute = text.startswith("/")
        body = text[1:] if absolute else text
        segments = (
            tuple(s.replace("~1", "/").replace("~0", "~") for s in body.split("/"))
            if body not in ("", ".")
            else ()
        )
        if "" in segments:
            raise ValueError(f"path {text!r} has an empty step")
        if absolute or {"..", "*", "."} & set(segments):
            return JsonPath(text, key, absolute, segments)
        return (KeyPath if len(segments) == 1 else KeysPath)(text, key, absolute, segments)

    @staticmethod
    def qname(text: str) -> str:
        raise ValueError("only XML documents have a root element")


class Node:
    """A JSON value with its pointer and its parent (for ``..``)."""

    __slots__ = ("parent", "pointer", "value")

    def __init__(self, value: Any, pointer: str, parent: Node | None) -> None:
        self.value = value
        self.pointer = pointer
        self.parent = parent

    def child(self, key: str | int, value: Any) -> Node:
        return Node(value, f"{self.pointer}/{escape(key)}", self)

    def elements(self) -> list[Node]:
        """An array stands for its elements; anything else for itself."""
        if isinstance(self.value, list):
            return [self.child(i, v) for i, v in enumerate(self.value)]
        return [self]


class JsonRun:
    """One JSON document, or one NDJSON line (``prefix`` "line N ")."""

    __slots__ = ("prefix", "root")

    def __init__(self, root: Any, prefix: str = "") -> None:
        self.root = Node(root, "", None)
        self.prefix = prefix

    def top(self) -> Context:
        return self.context(self.root)

    def context(self, node: Node) -> Context:
        value = node.value
        base = self.prefix + node.pointer
        return Context(self, node, base.rstrip(), base, value if isinstance(value, dict) else {})

    def begin_item(self, ctx: Context) -> None:
        """Nothing is cached between items."""

    def prepare(self, ctx: Context) -> None:
        """A JSON context's children are its object, set when it is made."""

    def scalar_at(self, node: Node) -> tuple[Raw | None, str]:
        return scalar_at(node.value, (self.prefix + node.pointer).rstrip())


class JsonPath:
    """A general JSON path, walked node by node."""

    __slots__ = ("absolute", "key", "segments", "text")

    def __init__(self, text: str, key: str, absolute: bool, segments: tuple[str, ...]) -> None:
        self.text = text
        self.key = key
        self.absolute = absolute
        self.segments = segments

    def walk(self, ctx: Context) -> list[Node]:
        current = [ctx.run.root if self.absolute else ctx.node]
        for segment in self.segments:
            current = [found for here in current for found in _step(here, segment)]
        return current

    def values(self, ctx: Context) -> list[tuple[Raw, str]]:
        run = ctx.run
        found = [run.scalar_at(v) for hit in self.walk(ctx) for v in hit.elements()]
        return [(raw, path) for raw, path in found if present(raw)]  # type: ignore[misc]

    def first(self, ctx: Context) -> tuple[Raw | None, str]:
        found = self.values(ctx)
        return found[0] if found else (None, self.nearest(ctx))

    def contexts(self, ctx: Context, many: bool) -> list[Context]:
        return self._contexts(ctx, self.walk(ctx), many)

    @staticmethod
    def _contexts(ctx: Context, hits: list[Node], many: bool) -> list[Context]:
        found = [v for hit in hits for v in hit.elements()] if many else hits
        return [ctx.run.context(v) for v in found if v.value is not None]

    def exists(self, ctx: Context) -> bool:
        return any(hit.value is not None for hit in self.walk(ctx))

    def nearest(self, ctx: Context) -> str:
        here = ctx.run.root if self.absolute else ctx.node
        for segment in self.segments[:-1]:
            found = _step(here, segment)
            if len(found) != 1 or segment in ("..", "*"):
                break
            here = found[0]
        if self.absolute or here is not ctx.node:
            return (ctx.run.prefix + here.pointer).rstrip()
        return ctx.path

    def list_path(self, ctx: Context) -> str:
        found = self.walk(ctx)
        if len(found) == 1 and isinstance(found[0].value, list):
            return (ctx.run.prefix + found[0].pointer).rstrip()
        return self.nearest(ctx)

    sum_path = nearest


class KeysPath(JsonPath):
    """Plain keys (``declaredValue/amount``, ``address_lines/0``): dict and list lookups."""

    __slots__ = ("suffix",)

    def __init__(self, text: str, key: str, absolute: bool, segments: tuple[str, ...]) -> None:
        super().__init__(text, key, absolute, segments)
        self.suffix = "".join("/" + escape(s) for s in segments)

    def values(self, ctx: Context) -> list[tuple[Raw, str]]:
        value = ctx.node.value
        for key in self.segments:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                return []
        if value is None:
            return []
        if not isinstance(value, list):
            raw, path = scalar_at(value, ctx.base + self.suffix)
            return [(raw, path)] if present(raw) else []  # type: ignore[list-item]
        base = f"{ctx.base}{self.suffix}/"
        found = [scalar_at(v, f"{base}{i}") for i, v in enumerate(value)]
        return [(raw, path) for raw, path in found if present(raw)]  # type: ignore[misc]


class KeyPath(KeysPath):
    """One key (``trackingNo``): the commonest field path, one dict lookup."""

    __slots__ = ("name",)

    def __init__(self, text: str, key: str, absolute: bool, segments: tuple[str, ...]) -> None:
        super().__init__(text, key, absolute, segments)
        self.name = segments[0]

    def first(self, ctx: Context) -> tuple[Raw | None, str]:
        hit = ctx.children.get(self.name)
        if type(hit) is str:  # the commonest case
            return (hit, ctx.base + self.suffix) if hit and not hit.isspace() else (None, ctx.path)
        if hit is None and isinstance(ctx.node.value, dict):
            return None, ctx.path
        if hit is None or isinstance(hit, dict | list):  # a list context, or many values
            return super().first(ctx)
        return json_scalar(hit), ctx.base + self.suffix

    def contexts(self, ctx: Context, many: bool) -> list[Context]:
        node = ctx.node
        if not isinstance(node.value, dict):
            return super().contexts(ctx, many)
        value = node.value.get(self.name)
        if value is None:
            return []
        return self._contexts(ctx, [Node(value, node.pointer + self.suffix, node)], many)


def escape(segment: str | int) -> str:
    return str(segment).replace("~", "~0").replace("/", "~1")


def _step(here: Node, segment: str) -> list[Node]:
    value = here.value
    if segment == "..":
        return [here.parent or here]
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


def json_scalar(value: Any) -> Raw | None:
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


def scalar_at(value: Any, path: str) -> tuple[Raw | None, str]:
    """A JSON value read at ``path``; an object or a nested list is an error there."""
    try:
        return json_scalar(value), path
    except ConversionError as exc:
        raise Unreadable(exc, path) from None
