"""XPath in mapping files: compiled once into steps, and what readers need to follow them.

A path of child steps (``a:Sender/a:Name``, ``@type``, ``a:GrossWeight/@unit``, with
leading ``..`` or from the root ``/``) becomes a :class:`.Steps` that the generated reader
follows through dictionaries of children; anything else (predicates, unions, axes) keeps
its precompiled lxml XPath. Source paths name what they find the same way either way
(``/ITMATT/Items/Item[3]/Sender/Name``): no namespace prefixes, ``[n]`` on items and list
entries always and elsewhere only where an element has same-named siblings.

The functions below are the readers' runtime: the fast ones return raw values (stripped,
blank meaning absent); the ``*_traced`` ones also name each value's source path.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from lxml import etree

from adapters import convert
from adapters.mapping.paths import Steps
from adapters.mapping.trace import Row, Trace

_STEP = re.compile(r"(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)")
_ATTR = re.compile(r"@([\w.-]+)")


class XmlSyntax:
    """Compiles XPath with the mapping's namespace prefixes."""

    def __init__(self, namespaces: dict[str, str]) -> None:
        self.namespaces = namespaces
        self._probe = etree.Element("probe")

    def compile(self, text: str, key: str) -> Steps:
        """Raises ValueError on bad syntax or an unknown prefix (found by a trial run)."""
        try:
            xpath = etree.XPath(text, namespaces=self.namespaces)
            xpath(self._probe)
        except etree.XPathError as exc:
            raise ValueError(f"XPath {text!r}: {exc}") from None
        absolute = text.startswith("/") and not text.startswith("//")
        parts = text[1:].split("/") if absolute else text.split("/")
        if parts == ["."]:
            parts = []
        attr = parts.pop()[1:] if parts and _ATTR.fullmatch(parts[-1]) else None
        up = 0
        while parts and parts[0] == ".." and not absolute:
            parts.pop(0)
            up += 1
        names, shown = [], []
        for part in parts:
            match = _STEP.fullmatch(part)
            if match is None:
                return Steps(text, key, general=xpath)
            prefix, local = match.groups()
            names.append(f"{{{self.namespaces[prefix]}}}{local}" if prefix else local)
            shown.append(local)
        if absolute and not names:
            return Steps(text, key, general=xpath)
        return Steps(text, key, up, absolute, tuple(names), tuple(shown), attr)

    def qname(self, text: str) -> str:
        """A root element name in Clark notation."""
        prefix, _, local = text.rpartition(":")
        if prefix and prefix not in self.namespaces:
            raise ValueError(f"prefix {prefix!r} is not in [namespaces]")
        return f"{{{self.namespaces[prefix]}}}{local}" if prefix else local


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def as_text(value: Any) -> str | None:
    """A scalar from a document or the mapping file as text, for comparisons
    (``true``/``false`` for booleans); an object or a list has none."""
    if isinstance(value, dict | list):
        return None
    return convert.text(("true" if value else "false") if isinstance(value, bool) else value)


# --- the readers' runtime -------------------------------------------------------------------


def text_of(el: Any, attr: str | None) -> str | None:
    """An element's text or attribute, stripped; blank is absent."""
    if el is None:
        return None
    raw = el.text if attr is None else el.get(attr)
    return (raw.strip() or None) if raw else None


def up(el: Any, levels: int) -> Any:
    """The ancestor ``levels`` above (None above the root)."""
    for _ in range(levels):
        if el is None:
            return None
        el = el.getparent()
    return el


def elements(el: Any, names: tuple[str, ...]) -> list[Any]:
    """Every element the child steps lead to, in document order."""
    found = [el] if el is not None else []
    for tag in names:
        found = [child for parent in found for child in parent.iterchildren(tag)]
    return found


def values(el: Any, steps: Steps) -> list[str]:
    """Every present value a path selects below ``el``."""
    if steps.general is not None:
        return [raw for hit in _hits(el, steps) if (raw := _raw(hit)) is not None]
    attr = steps.attr
    return [raw for e in elements(el, steps.names) if (raw := text_of(e, attr)) is not None]


def first(el: Any, steps: Steps) -> str | None:
    """The first present value of a general XPath."""
    return next(iter(values(el, steps)), None)


def nodes(el: Any, steps: Steps) -> list[Any]:
    """The elements a table's path selects (its entries), in document order."""
    if steps.general is not None:
        return [h for h in _hits(el, steps) if isinstance(h, etree._Element)]
    return elements(el, steps.names)


def _hits(el: Any, steps: Steps) -> list[Any]:
    if el is None:
        return []
    result = steps.general(el)
    return result if isinstance(result, list) else [result]


def _raw(hit: Any) -> Any:
    """An XPath result as a raw value: an element's text, a string, a number."""
    if isinstance(hit, etree._Element):
        raw: Any = hit.text
    elif isinstance(hit, bool):
        raw = "true" if hit else "false"
    elif isinstance(hit, float):
        raw = Decimal(repr(hit)).normalize()
    else:
        raw = str(hit)
    return (raw.strip() or None) if isinstance(raw, str) else raw


def pairs(el: Any, entries: Steps, value: Steps, times: Steps) -> list[tuple[Any, Any]]:
    """(value, quantity) of each entry, for a sum of products."""
    return [(_one(entry, value), _one(entry, times)) for entry in elements(el, entries.names)]


def _one(el: Any, steps: Steps) -> Any:
    found = elements(el, steps.names)
    return text_of(found[0], steps.attr) if found else None


def select(root: Any, steps: Steps) -> list[tuple[Any, str]]:
    """What a path selects from the document's root element (detection, the message
    reference, values read once per document): elements, or texts and attribute values
    (stripped, blank left out), each with its path."""
    trace = XmlTrace({})
    top = "/" + local(root.tag)
    if steps.general is not None:
        return [
            (_raw(h) if not isinstance(h, etree._Element) else h, trace._hit_path(h, top))
            for h in _hits(root, steps)
        ]
    names, shown = steps.names, steps.shown
    if steps.absolute:
        if not names or names[0] != root.tag:
            return []
        names, shown = names[1:], shown[1:]
    walk = Steps(steps.text, steps.key, names=names, shown=shown)
    found = trace.elements(root, top, walk, False)
    if steps.attr is None:
        return found
    return [(raw, f"{p}/@{steps.attr}") for e, p in found if (raw := text_of(e, steps.attr))]


def items(root: Any, steps: Steps) -> list[tuple[Any, str]]:
    """The items of a document with their paths, always indexed (``/ITMATT/Items/Item[3]``)."""
    trace = XmlTrace({})
    if steps.general is None:
        return trace.elements(root, "/" + local(root.tag), steps, True)
    positions: dict[tuple[Any, str], dict[Any, int]] = {}
    out = []
    for hit in _hits(root, steps):
        if not isinstance(hit, etree._Element):
            continue
        parent = hit.getparent()
        if parent is None:
            out.append((hit, "/" + local(hit.tag)))
            continue
        same = positions.get((parent, hit.tag))
        if same is None:
            same = positions[parent, hit.tag] = {
                c: i for i, c in enumerate(parent.iterchildren(hit.tag), 1)
            }
        out.append((hit, f"{trace.path(parent)}/{local(hit.tag)}[{same[hit]}]"))
    return out


# --- traced: the same values with their source paths -----------------------------------------


class XmlTrace(Trace):
    """Paths given to elements of one item so far: the item and its list entries, whose
    paths are always indexed; a general XPath names what it finds from them."""

    def __init__(self, known: dict[Any, str]) -> None:
        super().__init__()
        self.known = known

    def child_index(self, el: Any) -> dict[str, list[Any]]:
        """An element's children by tag."""
        index: dict[str, list[Any]] = {}
        if el is not None:
            for child in el:
                index.setdefault(child.tag, []).append(child)
        return index

    def child(self, index: dict[str, list[Any]], tag: str, shown: str, path: str) -> tuple:
        """The first child of this tag with its path; missing: None and the parent's."""
        same = index.get(tag)
        if not same:
            return None, path
        el = same[0]
        known = self.known.get(el)
        if known is not None:
            return el, known
        return el, f"{path}/{shown}" if len(same) == 1 else f"{path}/{shown}[1]"

    def value(self, el: Any, attr: str | None, path: str) -> tuple[str | None, str]:
        """An element's text or attribute with its path; missing, the element's."""
        raw = text_of(el, attr)
        if raw is None:
            return None, path
        return raw, path if attr is None else f"{path}/@{attr}"

    def elements(self, el: Any, path: str, steps: Steps, entries: bool) -> list[tuple[Any, str]]:
        """The elements child steps lead to, with their paths (``entries``: the last step
        always indexed, as list entries are)."""
        found = [(el, path)] if el is not None else []
        last = len(steps.names) - 1
        for n, (tag, shown) in enumerate(zip(steps.names, steps.shown, strict=True)):
            out = []
            for parent, parent_path in found:
                same = list(parent.iterchildren(tag))
                indexed = len(same) > 1 or (entries and n == last)
                for i, child in enumerate(same, 1):
                    step = f"{shown}[{i}]" if indexed else shown
                    out.append((child, self.known.get(child) or f"{parent_path}/{step}"))
            found = out
        return found

    def values(self, el: Any, path: str, steps: Steps) -> list[Row]:
        if steps.general is not None:
            return [
                (raw, self._hit_path(hit, path))
                for hit in _hits(el, steps)
                if (raw := _raw(hit)) is not None
            ]
        return [
            (raw, p if steps.attr is None else f"{p}/@{steps.attr}")
            for e, p in self.elements(el, path, steps, False)
            if (raw := text_of(e, steps.attr)) is not None
        ]

    def nodes(self, el: Any, path: str, steps: Steps) -> list[Row]:
        """A table's entries with their paths, indexed, and remembered for the item."""
        if steps.general is not None:
            found = [
                (h, self.path(h, indexed=True))
                for h in _hits(el, steps)
                if isinstance(h, etree._Element)
            ]
        else:
            found = self.elements(el, path, steps, True)
        for entry, entry_path in found:
            self.known[entry] = entry_path
        return found

    def nearest(self, el: Any, path: str, steps: Steps) -> str:
        """Where a value the path does not find belongs: its deepest existing parent."""
        if steps.general is not None:
            return path
        names = steps.names if steps.attr is not None else steps.names[:-1]
        for tag, shown in zip(names, steps.shown, strict=False):
            found = self.elements(el, path, Steps("", "", names=(tag,), shown=(shown,)), False)
            if not found:
                break
            el, path = found[0]
        return path

    list_path = nearest

    def pairs(
        self, el: Any, path: str, entries: Steps, value: Steps, times: Steps
    ) -> list[tuple[Row, Row]]:
        rows = []
        for entry, entry_path in self.elements(el, path, entries, False):
            rows.append(
                tuple(
                    next(iter(self.values(entry, entry_path, s)), (None, entry_path))
                    for s in (value, times)
                )
            )
        return rows  # type: ignore[return-value]

    def path(self, el: Any, *, indexed: bool = False) -> str:
        """Any element's path, from its nearest known ancestor (or the root)."""
        if not indexed and el in self.known:
            return self.known[el]
        parent = el.getparent()
        name = local(el.tag)
        if parent is None:
            return "/" + name
        same = list(parent.iterchildren(el.tag))
        step = f"{name}[{same.index(el) + 1}]" if indexed or len(same) > 1 else name
        path = f"{self.path(parent)}/{step}"
        if not indexed:
            self.known[el] = path
        return path

    def _hit_path(self, hit: Any, context_path: str) -> str:
        """Where an XPath result is: the element, the attribute, or the element of a
        text."""
        if isinstance(hit, etree._Element):
            return self.path(hit)
        parent = hit.getparent() if isinstance(hit, etree._ElementUnicodeResult) else None
        if parent is None:
            return context_path
        base = self.path(parent)
        return f"{base}/@{local(hit.attrname)}" if hit.is_attribute else base
