"""JSON paths in mapping files: ``a/b/0`` relative to the context, ``/a/b`` from the root
(a JSON Pointer; NDJSON: from the item's own line), leading ``..`` one level up each, ``*``
every element, ``.`` the context itself. Escapes per RFC 6901 (``~1`` is ``/``, ``~0`` is
``~``).

Compiled once into a :class:`.Steps`; the functions below are the generated readers'
runtime for the shapes they do not inline (fan-outs, arrays). Values are reported at
their JSON Pointer (``/parcels/2/trackingNo``; NDJSON ``line 3 /lines/0/value``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.convert import ConversionError
from adapters.mapping.paths import EVERY, Steps
from adapters.mapping.trace import Row, Trace


class JsonSyntax:
    """Compiles JSON paths (no namespaces, no trial run: every string is a path)."""

    @staticmethod
    def compile(text: str, key: str) -> Steps:
        absolute = text.startswith("/")
        body = text[1:] if absolute else text
        segments = (
            [s.replace("~1", "/").replace("~0", "~") for s in body.split("/")]
            if body not in ("", ".")
            else []
        )
        if "" in segments:
            raise ValueError(f"path {text!r} has an empty step")
        up = 0
        while segments and segments[0] == ".." and not absolute:
            segments.pop(0)
            up += 1
        segments = [s for s in segments if s != "."]
        if ".." in segments:
            raise ValueError(f"path {text!r}: '..' goes up only at the start of a path")
        names = tuple(segments)
        return Steps(text, key, up, absolute, names, tuple(escape(s) for s in names))

    @staticmethod
    def qname(text: str) -> str:
        raise ValueError("only XML documents have a root element")


def escape(segment: str | int) -> str:
    return str(segment).replace("~", "~0").replace("/", "~1")


def scalar(value: Any) -> Any:
    """A JSON value as a raw value: text stripped (blank is absent), booleans as
    "true"/"false", numbers as they are; an array stands for its first present element;
    an object is no value."""
    if type(value) is str:
        return value.strip() or None
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return next((raw for v in value if (raw := scalar(v)) is not None), None)
    raise ConversionError("expected a single value, found an object", value)


def step(value: Any, name: str) -> Any:
    """One step down: a key of an object, or an index of an array."""
    if type(value) is dict:
        return value.get(name)
    if type(value) is list and name.isdigit() and int(name) < len(value):
        return value[int(name)]
    return None


def _walk(value: Any, pointer: str, names: tuple[str, ...]) -> list[tuple[Any, str]]:
    found = [(value, pointer)]
    for name in names:
        out = []
        for here, at in found:
            if name == EVERY:
                if type(here) is list:
                    out.extend((v, f"{at}/{i}") for i, v in enumerate(here))
                elif type(here) is dict:
                    out.extend((v, f"{at}/{escape(k)}") for k, v in here.items())
            else:
                below = step(here, name)
                if below is not None:
                    out.append((below, f"{at}/{escape(name)}"))
        found = out
    return found


def _spread(found: list[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """An array stands for its elements."""
    out = []
    for value, at in found:
        if type(value) is list:
            out.extend((v, f"{at}/{i}") for i, v in enumerate(value))
        elif value is not None:
            out.append((value, at))
    return out


def values(value: Any, steps: Steps) -> list[Any]:
    """Every present value a path selects below ``value``."""
    found = (scalar(hit) for hit, _ in _spread(_walk(value, "", steps.names)))
    return [raw for raw in found if raw is not None]


def nodes(value: Any, steps: Steps) -> list[Any]:
    """The values a table's path selects (its entries): an array stands for its elements."""
    return [hit for hit, _ in _spread(_walk(value, "", steps.names))]


def pairs(value: Any, entries: Steps, amount: Steps, times: Steps) -> list[tuple[Any, Any]]:
    """(value, quantity) of each entry, for a sum of products."""
    return [(_one(e, amount), _one(e, times)) for e in nodes(value, entries)]


def _one(value: Any, steps: Steps) -> Any:
    for name in steps.names:
        value = step(value, name)
    return scalar(value)


def select(top: Any, steps: Steps, prefix: str = "") -> list[tuple[Any, str]]:
    """What a path selects from the document's top (detection, the message reference,
    the item count, values read once per document), each with its path; a path from
    the root and one relative to the top are the same here."""
    return [(v, f"{prefix}{at}".rstrip()) for v, at in _walk(top, "", steps.names) if v is not None]


def items(root: Any, steps: Steps) -> list[tuple[Any, str, tuple[tuple[Any, str], ...]]]:
    """The items with their pointers and ancestors (nearest first, as (value, pointer)),
    which paths starting with ``..`` climb; an array stands for its elements, so
    ``/consignments/*/parcels`` gives every parcel of every consignment."""
    found: list[tuple[Any, str, tuple[tuple[Any, str], ...]]] = [(root, "", ())]
    for name in steps.names:
        out = []
        for value, at, up in found:
            above = ((value, at), *up)
            if name == EVERY:
                if type(value) is list:
                    out.extend((v, f"{at}/{i}", above) for i, v in enumerate(value))
                elif type(value) is dict:
                    out.extend((v, f"{at}/{escape(k)}", above) for k, v in value.items())
            else:
                below = step(value, name)
                if below is not None:
                    out.append((below, f"{at}/{escape(name)}", above))
        found = out
    spread = []
    for value, at, up in found:
        if type(value) is list:
            above = ((value, at), *up)
            spread.extend((v, f"{at}/{i}", above) for i, v in enumerate(value) if v is not None)
        else:
            spread.append((value, at, up))
    return spread


class JsonTrace(Trace):
    """Pointers of one item's values: ``prefix`` is "line N " for NDJSON, and path
    variables hold prefix + pointer."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def value(self, value: Any, path: str) -> tuple[Any, str]:
        """A scalar with its path; an object there is an error at its path."""
        try:
            return scalar(value), path.rstrip()
        except ConversionError as exc:
            self.errors.append((path.rstrip(), exc))
            return None, path.rstrip()

    def values(self, value: Any, path: str, steps: Steps) -> list[Row]:
        out = []
        for hit, at in _spread(_walk(value, path, steps.names)):
            raw, where = self.value(hit, at)
            if raw is not None:
                out.append((raw, where))
        return out

    def nodes(self, value: Any, path: str, steps: Steps) -> list[Row]:
        return [
            (hit, at) for hit, at in _spread(_walk(value, path, steps.names)) if hit is not None
        ]

    def nearest(self, value: Any, path: str, steps: Steps) -> str:
        """Where a value the path does not find belongs: its deepest existing parent,
        not past a fan-out."""
        for name in steps.names[:-1]:
            if name == EVERY:
                break
            below = step(value, name)
            if below is None:
                break
            value, path = below, f"{path}/{escape(name)}"
        return path.rstrip()

    def list_path(self, value: Any, path: str, steps: Steps) -> str:
        """The path of a list as a whole: the array that holds its entries."""
        found = _walk(value, path, steps.names)
        if len(found) == 1 and type(found[0][0]) is list:
            return found[0][1].rstrip()
        return self.nearest(value, path, steps)

    def pairs(
        self, value: Any, path: str, entries: Steps, amount: Steps, times: Steps
    ) -> list[tuple[Row, Row]]:
        rows = []
        for entry, at in self.nodes(value, path, entries):
            row = []
            for steps in (amount, times):
                here, where = entry, at
                for name in steps.names:
                    here = step(here, name)
                    where = f"{where}/{escape(name)}"
                row.append(self.value(here, where) if here is not None else (None, at.rstrip()))
            rows.append(tuple(row))
        return rows  # type: ignore[return-value]
