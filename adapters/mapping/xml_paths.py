"""XPath in mapping files: compiled once, evaluated per item with the source path of each value.

Paths of child steps (``a:Sender/a:Name``, ``@type``, ``a:GrossWeight/@unit``) walk a
per-element index of children, built once per element and item; anything else runs as a
precompiled lxml XPath. Both name what they find the same way (``/ITMATT/Items/Item[3]``):
no namespace prefixes, ``[n]`` on items and list entries always and elsewhere only where an
element has same-named siblings. List entries are registered before any field is read
(see :mod:`.tables`), so a path through one names it with its index whatever reads it first.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from lxml import etree

from adapters.convert import Raw
from adapters.mapping.paths import Context, present

_STEP = re.compile(r"(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)")
_ATTR = re.compile(r"@([\w.-]+)")
_MANY_SIBLINGS = 8
"""From this many same-named siblings on, positions come from a map, not a list search."""


class XmlSyntax:
    """Compiles XPath with the mapping's namespace prefixes."""

    def __init__(self, namespaces: dict[str, str]) -> None:
        self.namespaces = namespaces
        self._probe = etree.Element("probe")

    def compile(self, text: str, key: str) -> XPath:
        """Raises ValueError on bad syntax or an unknown prefix (found by a trial run)."""
        try:
            xpath = etree.XPath(text, namespaces=self.namespaces)
            xpath(self._probe)
        except etree.XPathError as exc:
            raise ValueError(f"XPath {text!r}: {exc}") from None
        parts = text.split("/") if text != "." else []
        attr = parts.pop()[1:] if parts and _ATTR.fullmatch(parts[-1]) else None
        steps = []
        for part in parts:
            match = _STEP.fullmatch(part)
            if match is None:
                return XPath(text, key, xpath)
            prefix, local = match.groups()
            steps.append((f"{{{self.namespaces[prefix]}}}{local}" if prefix else local, local))
        kind = ChildPath if len(steps) == 1 else StepsPath
        return kind(text, key, xpath, tuple(steps), attr)

    def qname(self, text: str) -> str:
        """A root element name in Clark notation."""
        prefix, _, local = text.rpartition(":")
        if prefix and prefix not in self.namespaces:
            raise ValueError(f"prefix {prefix!r} is not in [namespaces]")
        return f"{{{self.namespaces[prefix]}}}{local}" if prefix else local


class XmlRun:
    """One XML document: children indexes and element paths, kept for the message (the
    elements above the items) and for the current item only."""

    __slots__ = ("_outer_index", "_outer_known", "_positions", "index", "known")

    def __init__(self) -> None:
        self._positions: dict[Any, dict[Any, int]] = {}
        self._outer_index: dict[Any, dict[str, list[Any]]] = {}
        self._outer_known: dict[Any, str] = {}
        self.index = self._outer_index
        self.known = self._outer_known
        """Paths given to elements so far (list entries, contexts); read before naming."""

    def top(self, root: Any) -> Context:
        path = "/" + _local(root.tag)
        return Context(self, root, path, path, self.children(root))

    def begin_item(self, ctx: Context) -> None:
        self.index, self.known = {}, {ctx.node: ctx.path}

    def prepare(self, ctx: Context) -> None:
        ctx.children = self.children(ctx.node)

    def children(self, el: Any) -> dict[str, list[Any]]:
        """An element's children by tag, built once per element."""
        index = self.index.get(el)
        if index is None:
            index = self._outer_index.get(el)
        if index is None:
            index = self.index[el] = {}
            for child in el:
                same = index.get(child.tag)
                if same is None:
                    index[child.tag] = [child]
                else:
                    same.append(child)
        return index

    def walk(
        self, steps: tuple[tuple[str, str], ...], el: Any, path: str, index_last: bool = False
    ) -> list[tuple[Any, str]]:
        """The elements child steps lead to, with their paths."""
        current = [(el, path)]
        known = self.known
        last = len(steps) - 1
        for n, (tag, local) in enumerate(steps):
            found: list[tuple[Any, str]] = []
            for parent, parent_path in current:
                same = self.children(parent).get(tag)
                if not same:
                    continue
                if len(same) == 1 and not (index_last and n == last):
                    found.append((same[0], known.get(same[0]) or f"{parent_path}/{local}"))
                else:
                    found.extend(
                        (c, known.get(c) or f"{parent_path}/{local}[{i}]")
                        for i, c in enumerate(same, 1)
                    )
            if not found:
                return found
            current = found
        return current

    def path(self, el: Any, *, index: bool = False) -> str:
        """Any element's path, from its ancestors' (for general XPath results)."""
        if not index:
            known = self.known.get(el) or self._outer_known.get(el)
            if known is not None:
                return known
        parent = el.getparent()
        local = _local(el.tag)
        if parent is None:
            path = "/" + local
        else:
            same = self.children(parent)[el.tag]
            step = f"{local}[{self._position(el, same)}]" if index or len(same) > 1 else local
            path = f"{self.path(parent)}/{step}"
        self.known[el] = path
        return path

    def register(self, found: list[tuple[Any, str]]) -> list[Context]:
        """Contexts for the elements a table selects; their paths are kept for the item."""
        for el, path in found:
            self.known[el] = path
        return [Context(self, el, path, path) for el, path in found]

    def _position(self, el: Any, same: list[Any]) -> int:
        """1-based position among same-named siblings; a map per sibling list (thousands
        of items share one parent), kept for the whole document."""
        if len(same) < _MANY_SIBLINGS:
            return same.index(el) + 1
        positions = self._positions.get(same[0])
        if positions is None:
            positions = self._positions[same[0]] = {c: i for i, c in enumerate(same, 1)}
        return positions[el]


class XPath:
    """A general XPath (predicates, unions, axes): lxml evaluates it, paths come from the
    ancestors of what it selects."""

    __slots__ = ("key", "text", "xpath")

    def __init__(self, text: str, key: str, xpath: etree.XPath) -> None:
        self.text = text
        self.key = key
        self.xpath = xpath

    def _hits(self, ctx: Context) -> list[Any]:
        result = self.xpath(ctx.node)
        return result if isinstance(result, list) else [result]

    def first(self, ctx: Context) -> tuple[Raw | None, str]:
        for hit in self._hits(ctx):
            raw = _raw(hit)
            if present(raw):
                return raw, _hit_path(ctx, hit)
        return None, ctx.path

    def values(self, ctx: Context) -> list[tuple[Raw, str]]:
        return [(raw, _hit_path(ctx, hit)) for hit in self._hits(ctx) if present(raw := _raw(hit))]

    def contexts(self, ctx: Context, many: bool) -> list[Context]:
        run = ctx.run
        found = [h for h in self._hits(ctx) if isinstance(h, etree._Element)]
        return run.register([(h, run.path(h, index=many)) for h in found])

    def exists(self, ctx: Context) -> bool:
        return bool(self._hits(ctx))

    def nearest(self, ctx: Context) -> str:
        return ctx.path

    list_path = sum_path = nearest


class StepsPath(XPath):
    """Child steps, maybe ending in an attribute: walked through the children indexes.
    No steps at all is the context itself (``.``, ``@number``)."""

    __slots__ = ("attr", "steps")

    def __init__(
        self,
        text: str,
        key: str,
        xpath: etree.XPath,
        steps: tuple[tuple[str, str], ...],
        attr: str | None,
    ) -> None:
        super().__init__(text, key, xpath)
        self.steps = steps
        self.attr = attr

    def _elements(self, ctx: Context) -> list[tuple[Any, str]]:
        return (
            ctx.run.walk(self.steps, ctx.node, ctx.path) if self.steps else [(ctx.node, ctx.path)]
        )

    def first(self, ctx: Context) -> tuple[Raw | None, str]:
        """One element at each step (the common case) is followed without building
        lists, starting from the context's own index."""
        run, el, path, children = ctx.run, ctx.node, ctx.path, ctx.children
        for tag, local in self.steps:
            same = (children if children is not None else run.children(el)).get(tag)
            children = None
            if not same:
                return None, self.nearest(ctx)
            if len(same) > 1:
                found = self.values(ctx)
                return found[0] if found else (None, self.nearest(ctx))
            el = same[0]
            path = run.known.get(el) or f"{path}/{local}"
        text = el.text if self.attr is None else el.get(self.attr)
        if not text or text.isspace():
            return None, self.nearest(ctx)
        return text, path if self.attr is None else f"{path}/@{self.attr}"

    def values(self, ctx: Context) -> list[tuple[Raw, str]]:
        attr = self.attr
        found = []
        for el, path in self._elements(ctx):
            text = el.text if attr is None else el.get(attr)
            if text and not text.isspace():
                found.append((text, path if attr is None else f"{path}/@{attr}"))
        return found

    def contexts(self, ctx: Context, many: bool) -> list[Context]:
        if self.attr is not None:  # attributes are no context
            return []
        if not self.steps:
            return ctx.run.register([(ctx.node, ctx.path)])
        return ctx.run.register(ctx.run.walk(self.steps, ctx.node, ctx.path, many))

    def nearest(self, ctx: Context) -> str:
        path = ctx.path
        el = ctx.node
        for step in self.steps if self.attr is not None else self.steps[:-1]:
            found = ctx.run.walk((step,), el, path)
            if not found:
                break
            el, path = found[0]
        return path

    list_path = nearest

    def sum_path(self, ctx: Context) -> str:
        """A sum is computed from the context's values: it has the context's path."""
        return ctx.path


class ChildPath(StepsPath):
    """One child step (``a:Name``, ``a:GrossWeight/@unit``): the commonest field path by
    far, so its :meth:`first` is written out for it (same-named siblings included)."""

    __slots__ = ("local", "suffix", "tag")

    def __init__(
        self,
        text: str,
        key: str,
        xpath: etree.XPath,
        steps: tuple[tuple[str, str], ...],
        attr: str | None,
    ) -> None:
        super().__init__(text, key, xpath, steps, attr)
        self.tag, self.local = steps[0]
        self.suffix = "/" + self.local

    def first(self, ctx: Context) -> tuple[Raw | None, str]:
        same = ctx.children.get(self.tag)
        attr = self.attr
        if not same:
            return None, ctx.path
        if len(same) == 1:  # no index unless it is a list entry
            el = same[0]
            text = el.text if attr is None else el.get(attr)
            if text and not text.isspace():
                path = ctx.run.known.get(el) or ctx.path + self.suffix
                return text, path if attr is None else f"{path}/@{attr}"
        else:
            for i, el in enumerate(same, 1):
                text = el.text if attr is None else el.get(attr)
                if text and not text.isspace():
                    path = ctx.run.known.get(el) or f"{ctx.path}/{self.local}[{i}]"
                    return text, path if attr is None else f"{path}/@{attr}"
        return None, ctx.path if attr is None else self.nearest(ctx)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _raw(hit: Any) -> Raw | None:
    """An XPath result as a raw value: an element's text, a string, a number."""
    if isinstance(hit, etree._Element):
        return hit.text
    if isinstance(hit, bool):
        return "true" if hit else "false"
    if isinstance(hit, float):
        return Decimal(repr(hit)).normalize()
    return hit


def _hit_path(ctx: Context, hit: Any) -> str:
    """Where an XPath result is: the element, the attribute, or the element of a text."""
    run = ctx.run
    if isinstance(hit, etree._Element):
        return run.path(hit)
    parent = hit.getparent() if isinstance(hit, etree._ElementUnicodeResult) else None
    if parent is None:
        return ctx.path
    base = run.path(parent)
    return f"{base}/@{_local(hit.attrname)}" if hit.is_attribute else base
