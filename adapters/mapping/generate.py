"""A mapping's plan compiled into Python: one function that reads one item.

Interpreting paths per value cost most of the translation (issue 9), so each mapping is
turned, when it loads, into the code an engineer would write by hand for its format: one
call per element reading everything the fields use of its children (:mod:`.pick`, in C),
the field's conversion called with its constants already bound, the canonical objects
built directly. The source is kept (:attr:`Reader.source`) so that it can be read.

Two functions come from the same plan by the same code below, so they read the same
nodes: ``read`` builds the item and stops at the first value it cannot convert;
``trace`` reads the item again writing every value's source path, every error and the
mapped paths that matched into a :class:`.trace.Trace`. The engine calls ``trace`` only
for an item ``read`` refused, for lint, and for the field paths of an item the canonical
rules reject.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

from adapters.convert import ConversionError
from adapters.mapping import conversions, json_paths, pick, xml_paths
from adapters.mapping.paths import EVERY, Steps
from adapters.mapping.plan import Field, Plan, Table, pair_prefix
from gateway.canonical import (
    Address,
    CanonicalItem,
    ContentLine,
    Document,
    Party,
    TaxId,
    Transport,
)
from gateway.document import Kind

_RUNTIME: dict[str, Any] = {
    "ConversionError": ConversionError,
    "CanonicalItem": CanonicalItem,
    "Party": Party,
    "Address": Address,
    "ContentLine": ContentLine,
    "Document": Document,
    "TaxId": TaxId,
    "Transport": Transport,
    "times": conversions.times,
    "finish": conversions.finish,
    "sum_of": conversions.sum_of,
    "weigh": conversions.weigh,
    "EMPTY": {},
}
_SYNTAX: dict[Kind, dict[str, Any]] = {
    Kind.XML: {
        "UP": xml_paths.up,
        "VALUES": xml_paths.values,
        "NODES": xml_paths.nodes,
        "FIRST": xml_paths.first,
        "PAIRS": xml_paths.pairs,
        "PICK": pick.pick,
    },
    Kind.JSON: {
        "SCALAR": json_paths.scalar,
        "STEP": json_paths.step,
        "VALUES": json_paths.values,
        "NODES": json_paths.nodes,
        "PAIRS": json_paths.pairs,
    },
}
_SYNTAX[Kind.NDJSON] = _SYNTAX[Kind.JSON]
_TEXT = "v if type(v) is str else str(v)"


@dataclasses.dataclass(frozen=True, slots=True)
class Reader:
    """The compiled mapping: ``read(node, path, doc, up)`` and ``trace(node, path, doc, up,
    trace)``. ``doc`` holds the values of :attr:`document_paths` (traced: with their
    paths); ``up`` the item's ancestors, nearest first, as (node, pointer) (JSON)."""

    read: Callable[..., CanonicalItem]
    trace: Callable[..., CanonicalItem]
    source: str
    """The generated code of ``read``, for people."""
    document_paths: tuple[Steps, ...]
    """Paths from the document's root: read once per document, not per item."""


class Unsupported(ValueError):
    """A path the generated code cannot follow; ``key`` is where the mapping gives it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def generate(plan: Plan) -> Reader:
    """Raises :class:`Unsupported` for a path it cannot follow."""
    fast = _Generator(plan, traced=False)
    traced = _Generator(plan, traced=True)
    source, traced_source = fast.function("read"), traced.function("trace")
    return Reader(
        _compile(source, fast.constants, "read", plan),
        _compile(traced_source, traced.constants, "trace", plan),
        source,
        tuple(fast.documents),
    )


def _compile(source: str, constants: dict[str, Any], name: str, plan: Plan) -> Callable:
    namespace = {**_RUNTIME, **_SYNTAX[plan.kind], **constants}
    code = compile(source, f"<mapping {plan.format}/{plan.version}: {name}>", "exec")
    exec(code, namespace)  # source generated here from a checked plan, never from input
    return namespace[name]


# --- where things are: scopes and nodes ------------------------------------------------------


class _Node:
    """A node the generated code holds in a variable: a scope's root, or one reached by
    single steps from another node of the same scope."""

    def __init__(self, gen: _Generator, scope: _Scope, parent: _Node | None, shown: str) -> None:
        self.scope = scope
        self.parent = parent
        self.shown = shown
        self.var = gen.fresh("n")
        self.path = gen.fresh("p")
        self.index: str | None = None
        """XML: the variable holding what is read of the children (read: a pick's tuple)."""
        self.spec: list[pick.Entry] = []
        """Read, XML: what that pick reads, an entry per index."""
        self.children: dict[str, _Node] = {}
        self.value = False
        """A value read once per document (``doc``), not a node to step into."""


class _Scope:
    """The item, or one entry of a list table (a loop body). Its nodes are looked up in
    its prologue, before any of its fields is read."""

    def __init__(self, gen: _Generator, up: tuple[_Node, ...]) -> None:
        self.prologue: list[str] = []
        self.up = up
        """The root's static ancestors, nearest first (into the enclosing scopes)."""
        self.root = _Node(gen, self, None, "")


# --- the generator ---------------------------------------------------------------------------


class _Generator:
    """Writes one of the two functions; ``traced`` adds paths, errors and hits."""

    def __init__(self, plan: Plan, *, traced: bool) -> None:
        self.plan = plan
        self.xml = plan.kind is Kind.XML
        self.ndjson = plan.kind is Kind.NDJSON
        self.traced = traced
        self.constants: dict[str, Any] = {}
        self.documents: list[Steps] = []
        self._names: dict[int, str] = {}
        self._count = itertools.count(1)
        self._item: _Scope | None = None
        self._specs: dict[str, list[pick.Entry]] = {}

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self._count)}"

    def const(self, value: Any, prefix: str = "K") -> str:
        """A name for a constant of the generated code (a converter, a Steps...)."""
        if isinstance(value, str | int | bool) or value is None:
            return repr(value)
        name = self._names.get(id(value))
        if name is None:
            name = self._names[id(value)] = self.fresh(prefix)
            self.constants[name] = value
        return name

    def function(self, name: str) -> str:
        self._item = scope = _Scope(self, ())
        body: list[str] = []
        item = self.table(self.plan.item, scope, scope.root, body, "", None)
        self.constants |= {spec: tuple(entries) for spec, entries in self._specs.items()}
        args = "n, path, doc, up, T" if self.traced else "n, path, doc, up"
        # NDJSON: a line's pointers follow "line N " (T.prefix); the line itself is "line N"
        root_path = "T.prefix" if self.ndjson and self.traced else "path"
        head = [f"{scope.root.var} = n", f"{scope.root.path} = {root_path}"]
        if self.traced:
            head.append("P = T.paths")
            if self.xml:
                head.append("T.known[n] = path")
        lines = [*head, *scope.prologue, *body, f"return {item}"]
        return f"def {name}({args}):\n" + "\n".join(_indent(lines)) + "\n"

    # -- nodes --

    def node(self, start: _Node, steps: Steps) -> _Node:
        """The node ``steps``' names lead to from ``start`` by single steps, looked up in
        its scope's prologue once however many fields read through it."""
        here = start
        for name, shown in zip(steps.names, steps.shown, strict=True):
            child = here.children.get(name)
            if child is None:
                child = here.children[name] = _Node(self, here.scope, here, shown)
                self._lookup(here, child, name)
            here = child
        return here

    def _lookup(self, parent: _Node, child: _Node, name: str) -> None:
        out = parent.scope.prologue
        if self.xml and not self.traced:
            out.append(f"{child.var} = {self.pick(parent, name, pick.NODE)}")
            return
        if self.xml:
            if parent.index is None:
                parent.index = self.fresh("x")
                out.append(f"{parent.index} = T.child_index({parent.var})")
            out.append(
                f"{child.var}, {child.path} = T.child({parent.index}, {name!r}, "
                f"{child.shown!r}, {parent.path})"
            )
            return
        if name.isdigit():
            out.append(f"{child.var} = STEP({parent.var}, {name!r})")
        else:
            out.append(
                f"{child.var} = {parent.var}.get({name!r}) if type({parent.var}) is dict else None"
            )
        if self.traced:
            out.append(
                f"{child.path} = {parent.path} + {'/' + child.shown!r} "
                f"if {child.var} is not None else {parent.path}"
            )

    def pick(self, parent: _Node, name: str, mode: int, attr: str | None = None) -> str:
        """Read, XML: an expression for what ``mode`` reads of ``parent``'s first child
        ``name``; one pick per parent, in its scope's prologue, reads every such entry."""
        if parent.index is None:
            parent.index = self.fresh("x")
            spec = self.fresh("S")
            self._specs[spec] = parent.spec  # a constant, as a tuple, once all is written
            parent.scope.prologue.append(f"{parent.index} = PICK({parent.var}, {spec})")
        wanted = pick.entry(name, mode, attr)
        if wanted not in parent.spec:
            parent.spec.append(wanted)
        return f"{parent.index}[{parent.spec.index(wanted)}]"

    def base(self, context: _Node, steps: Steps) -> tuple[_Node, Steps]:
        """Where a path starts (its ``..`` and root resolved) and the rest of it."""
        rest = dataclasses.replace(steps, up=0, absolute=False)
        if steps.absolute:
            assert self._item is not None
            if self.ndjson:  # from the item's own line
                return self._item.root, rest
            return self._document(steps), dataclasses.replace(rest, names=(), shown=())
        here = context
        for level in range(steps.up):
            if here.parent is None:
                return self._above(here.scope, steps.up - level, steps), rest
            here = here.parent
        return here, rest

    def _above(self, scope: _Scope, levels: int, steps: Steps) -> _Node:
        """``levels`` above a scope's root: its static ancestors, then (above the item, or
        above XML entries a general XPath selects) the document's, found at run time."""
        if scope.up:
            if levels <= len(scope.up):
                return scope.up[levels - 1]
            return self._above(scope.up[-1].scope, levels - len(scope.up), steps)
        if not self.xml and scope is not self._item:
            raise Unsupported(
                steps.key, f"{steps.text!r}: '..' above a list entry that '*' selects"
            )
        node = _Node(self, scope, None, "")
        out, root = scope.prologue, scope.root
        if self.xml:
            out.append(f"{node.var} = UP({root.var}, {levels})")
            if self.traced:
                out.append(
                    f"{node.path} = T.path({node.var}) if {node.var} is not None else {root.path}"
                )
        else:
            there = f"up[{levels - 1}]"
            out.append(f"{node.var} = {there}[0] if len(up) >= {levels} else None")
            if self.traced:
                out.append(f"{node.path} = T.prefix + {there}[1] if len(up) >= {levels} else path")
        return node

    def _document(self, steps: Steps) -> _Node:
        """A value from the document's root: read once per document, passed in ``doc``."""
        assert self._item is not None
        scope = self._item
        index = len(self.documents)
        self.documents.append(steps)
        node = _Node(self, scope, None, "")
        node.value = True
        if self.traced:
            scope.prologue.append(f"{node.var}, {node.path} = doc[{index}]")
        else:
            scope.prologue.append(f"{node.var} = doc[{index}]")
        return node

    # -- values --

    def value(self, context: _Node, steps: Steps, out: list[str]) -> tuple[str, str]:
        """Code reading a path's first present value into a variable (traced: and its
        path, the nearest existing node's when missing). Returns both names."""
        start, rest = self.base(context, steps)
        var = self.fresh("r")
        where = self.fresh("q") if self.traced else ""
        if start.value:
            out.append(
                f"{var}, {where} = {start.var}, {start.path}"
                if self.traced
                else f"{var} = {start.var}"
            )
            return var, where
        if rest.general is not None or EVERY in rest.names:
            steps_name = self.const(rest, "S")
            if self.traced:
                found = self.fresh("m")
                out.append(f"{found} = T.values({start.var}, {start.path}, {steps_name})")
                out.append(
                    f"{var}, {where} = {found}[0] if {found} else "
                    f"(None, T.nearest({start.var}, {start.path}, {steps_name}))"
                )
            elif self.xml:
                out.append(f"{var} = FIRST({start.var}, {steps_name})")
            else:
                out.append(f"{var} = next(iter(VALUES({start.var}, {steps_name})), None)")
            return var, where
        if self.xml and not self.traced and rest.names:
            parent = self.node(start, _head(rest))
            mode = pick.TEXT if rest.attr is None else pick.ATTR
            out.append(f"{var} = {self.pick(parent, rest.names[-1], mode, rest.attr)}")
            return var, where
        holder = self.node(start, rest)
        h = holder.var
        if self.traced:
            attr = f"{rest.attr!r}, " if self.xml else ""
            out.append(f"{var}, {where} = T.value({h}, {attr}{holder.path})")
        elif self.xml:
            read = f"{h}.text" if rest.attr is None else f"{h}.get({rest.attr!r})"
            out.append(f"{var} = {read} if {h} is not None else None")
            out.append(f"if {var} is not None: {var} = {var}.strip() or None")
        else:
            out.append(f"{var} = ({h}.strip() or None) if type({h}) is str else SCALAR({h})")
        return var, where

    def values(self, context: _Node, steps: Steps, out: list[str]) -> str:
        """Code reading every present value of a path into a list (traced: of (value,
        path))."""
        start, rest = self.base(context, steps)
        var = self.fresh("m")
        if start.value:
            item = f"({start.var}, {start.path})" if self.traced else start.var
            out.append(f"{var} = [{item}] if {start.var} is not None else []")
            return var
        steps_name = self.const(rest, "S")
        if self.traced:
            out.append(f"{var} = T.values({start.var}, {start.path}, {steps_name})")
        else:
            out.append(f"{var} = VALUES({start.var}, {steps_name})")
        return var

    def nearest(self, context: _Node, steps: Steps) -> str:
        """Traced: an expression for where a value the path does not find belongs."""
        start, rest = self.base(context, steps)
        if start.value:
            return start.path
        return f"T.nearest({start.var}, {start.path}, {self.const(rest, 'S')})"

    # -- tables --

    def table(
        self,
        table: Table,
        scope: _Scope,
        context: _Node,
        out: list[str],
        prefix: str,
        position: str | None,
    ) -> str:
        """Code for one table entry at ``context``; returns the variable of its object.
        ``prefix`` is a Python expression for its canonical names' prefix ("" for the
        item)."""
        record = _Record(self, out, prefix)
        if self.traced and table.kind in ("party", "transport") and context is not scope.root:
            record.live = f"{context.var} is not None"  # no node: no paths, errors above
        values: dict[str, str] = {}
        for field in table.fields:
            if field.refers is None:
                values[field.name] = self.field(field, context, out, record, values)
        for sub in table.subtables:
            values[sub.name] = self.subtable(sub, scope, context, out, record)
        for field in table.fields:  # derived from the others, once they are all read
            if field.refers is not None:
                values[field.name] = self._derived(field, out, record, values)
        return self.build(table, values, context, out, position)

    def _derived(self, field: Field, out: list[str], record: _Record, values: dict) -> str:
        """A field taken from another one of the same item (``field = ...``)."""
        assert field.refers is not None
        var = self.fresh("f")
        head, _, rest = field.refers.partition(".")
        source = values.get(field.refers) or f"{values[head]}.{rest}"
        if field.convert is None:
            out.append(f"{var} = {source}")
        else:
            call = f"{self.const(field.convert, 'C')}({source})"
            if self.traced:
                where = f"(P.get({record.name(field.refers)}) or path)"
                out.append(f"{var} = None")
                out.append(f"if {source} is not None:")
                out.append(f"    try: {var} = {call}")
                out.append(f"    except ConversionError as exc: T.fail(exc, {where}, {{}})")
            else:
                out.append(f"{var} = {call} if {source} is not None else None")
        name, known = record.name(field.name), record.name(field.refers)
        record.line(f"if {known} in P: P[{name}] = P[{known}]")
        return var

    def subtable(
        self, sub: Table, scope: _Scope, context: _Node, out: list[str], record: _Record
    ) -> str:
        name = record.name(sub.name)
        if sub.many:
            return self._entries(sub, context, out, name)
        node = context
        if sub.context is not None:
            start, rest = self.base(context, sub.context)
            if rest.general is not None or rest.attr is not None or EVERY in rest.names:
                raise Unsupported(
                    sub.context.key,
                    f"{sub.context.text!r}: the path of a "
                    "table that is no list must be child steps",
                )
            node = self.node(start, rest)
        if self.traced:
            guard = "" if node is context else f"if {node.var} is not None: "
            shown = f"{node.path}.rstrip()" if self.ndjson else node.path
            out.append(f"{guard}P[{name}] = {shown}")
            if sub.context is not None:
                record.hit(sub.context, f"{node.var} is not None")
        return self.table(sub, scope, node, out, f"{name} + '.'", None)

    def _entries(self, sub: Table, context: _Node, out: list[str], name: str) -> str:
        """A list table: its entries found in the prologue (traced: their paths known
        before any field is read), then a loop over them."""
        assert sub.context is not None
        start, rest = self.base(context, sub.context)
        found = self.fresh("e")
        steps = self.const(rest, "S")
        if self.traced:
            start.scope.prologue.append(f"{found} = T.nodes({start.var}, {start.path}, {steps})")
            out.append(f"if {found}: P[{name}] = T.list_path({start.var}, {start.path}, {steps})")
            out.append(f"if {found}: T.hits.add(({sub.context.key!r}, {sub.context.text!r}))")
        elif start.value or rest.general is not None or EVERY in rest.names or not rest.names:
            start.scope.prologue.append(f"{found} = NODES({start.var}, {steps})")
        else:  # child steps: the node above the entries, then its children of that name
            if self.xml:
                every = self.pick(self.node(start, _head(rest)), rest.names[-1], pick.ALL)
                start.scope.prologue.append(f"{found} = {every}")
            else:  # an array stands for its elements
                holder = self.node(start, rest).var
                start.scope.prologue.append(
                    f"{found} = [v for v in {holder} if v is not None] if type({holder}) is list "
                    f"else [] if {holder} is None else [{holder}]"
                )
        inner = _Scope(self, self._entry_up(start, rest))
        position = self.fresh("i")
        body: list[str] = []
        entry = self.fresh("w")
        if self.traced:
            body.append(f"{entry} = {name} + '[' + str({position}) + ']'")
            body.append(f"P[{entry}] = {inner.root.path}")
        obj = self.table(sub, inner, inner.root, body, f"{entry} + '.'", position)
        result = self.fresh("t")
        out.append(f"{result} = []")
        loop = f"({inner.root.var}, {inner.root.path})" if self.traced else inner.root.var
        out.append(f"for {position}, {loop} in enumerate({found}, 1):")
        out.extend(
            _indent([*inner.prologue, *body, f"if {obj} is not None: {result}.append({obj})"])
        )
        return result

    def _entry_up(self, start: _Node, rest: Steps) -> tuple[_Node, ...]:
        """The static ancestors of a list's entries: XML, the element above them; JSON,
        the array; then theirs."""
        if rest.general is not None or EVERY in rest.names:
            return ()
        names = rest.names[:-1] if self.xml else rest.names
        holder = self.node(
            start, dataclasses.replace(rest, names=names, shown=rest.shown[: len(names)])
        )
        chain = []
        here: _Node | None = holder
        while here is not None:
            chain.append(here)
            here = here.parent
        return (*chain, *holder.scope.up)

    # -- fields --

    def field(
        self,
        field: Field,
        context: _Node,
        out: list[str],
        record: _Record,
        values: dict[str, str],
    ) -> str:
        """Code for one field; returns the variable holding its canonical value."""
        var = self.fresh("f")
        name = record.name(field.name)
        if field.source == "const":
            out.append(f"{var} = {self.const(field.constant)}")
            return var
        if field.source == "lines":
            self._lines(field, context, out, record, name, var)
            return var
        if field.source == "sum":
            self._sum(field, context, out, record, name, var)
            return var
        if field.source == "units":
            self._units(field, context, out, record, name, var)
            self._times(field, context, out, record, var, var)
            return var
        if field.source == "path":
            raw, where = self.value(context, field.paths[0], out)
            record.hit(field.paths[0], f"{raw} is not None")
        elif field.source == "first":
            raw, where = self._first(field, context, out, record)
        else:
            raw, where = self._joined(field, context, out, record)
        record.path(name, where)
        args = self._inputs(field, context, out, record, values, name)
        self._convert(field, var, raw, where, args, out)
        self._times(field, context, out, record, var, raw)
        return var

    def _first(self, field: Field, context: _Node, out, record) -> tuple[str, str]:
        reads = [self.value(context, p, out) for p in field.paths]
        for (raw, _), path in zip(reads, field.paths, strict=True):
            record.hit(path, f"{raw} is not None")
        var, where = reads[0]
        for raw, at in reads[1:]:
            if self.traced:
                out.append(f"if {var} is None and {raw} is not None: {var}, {where} = {raw}, {at}")
            else:
                out.append(f"if {var} is None: {var} = {raw}")
        return var, where

    def _parts(self, field: Field, context: _Node, out, record) -> str:
        """Every value of every path of the field, in order, in one list."""
        parts = [self.values(context, p, out) for p in field.paths]
        for part, path in zip(parts, field.paths, strict=True):
            record.hit(path, part)
        if len(parts) == 1:
            return parts[0]
        every = self.fresh("m")
        out.append(f"{every} = [{', '.join('*' + p for p in parts)}]")
        return every

    def _joined(self, field: Field, context: _Node, out, record) -> tuple[str, str]:
        every = self._parts(field, context, out, record)
        raw, sep = self.fresh("r"), repr(field.sep)
        values = f"for v, _ in {every}" if self.traced else f"for v in {every}"
        out.append(f"{raw} = {sep}.join({_TEXT} {values}) if {every} else None")
        if not self.traced:
            return raw, ""
        where = self.fresh("q")
        out.append(
            f"{where} = {every}[0][1] if {every} else {self.nearest(context, field.paths[0])}"
        )
        return raw, where

    def _lines(self, field: Field, context: _Node, out, record, name: str, var: str) -> None:
        every = self._parts(field, context, out, record)
        if not self.traced:
            out.append(f"{var} = [{_TEXT} for v in {every}]")
            return
        out.append(f"{var} = [{_TEXT} for v, _ in {every}]")
        where = f"({every}[0][1] if {every} else {self.nearest(context, field.paths[0])})"
        record.path(name, where)
        record.line(f"T.lines({name}, {every})")

    def _inputs(self, field: Field, context, out, record, values, name: str) -> list:
        """The converter's arguments after the raw value: (variable, path, input name)."""
        args = []
        for input_name, source in zip(field.input_names, field.inputs, strict=True):
            if isinstance(source, str):  # another field of the same table
                args.append((values[source], "", input_name))
                continue
            raw, where = self.value(context, source, out)
            record.hit(source, f"{raw} is not None")
            if input_name == "currency":
                record.line(f"if {raw} is not None: P[{name} + '.currency'] = {where}")
            args.append((raw, where, input_name))
        return args

    def _convert(self, field: Field, var: str, raw: str, where: str, args: list, out) -> None:
        if field.convert is None:  # plain text: XML reads text already, JSON numbers become text
            out.append(
                f"{var} = {raw}"
                if self.xml
                else f"{var} = {raw} if type({raw}) is str or {raw} is None else str({raw})"
            )
            return
        call = f"{self.const(field.convert, 'C')}({', '.join([raw, *(a[0] for a in args)])})"
        if not self.traced:
            out.append(f"{var} = {call} if {raw} is not None else None")
            return
        parts = ", ".join(f"{name!r}: {at}" for _, at, name in args if at)
        out.append(f"{var} = None")
        out.append(f"if {raw} is not None:")
        out.append(f"    try: {var} = {call}")
        out.append(f"    except ConversionError as exc: T.fail(exc, {where}, {{{parts}}})")

    def _times(self, field: Field, context, out, record, var: str, raw: str) -> None:
        if field.times is None:
            return
        count, where = self.value(context, field.times, out)
        record.hit(field.times, f"{count} is not None")
        convert = self.const(field.quantity, "C")
        factor = f"{convert}({count}) if {count} is not None else None"
        if not self.traced:
            out.append(f"{var} = finish(times({var}, {factor}, {raw}), True)")
            return
        out.append("try:")
        out.append(f"    {var} = finish(times({var}, {factor}, {raw}), True)")
        out.append(f"except ConversionError as exc: {var} = None; T.fail(exc, {where}, {{}})")

    def _sum(self, field: Field, context: _Node, out, record, name: str, var: str) -> None:
        """Every value converted and added; with ``times``, value x quantity entry by
        entry; money in one currency."""
        summed = field.paths[0]
        if field.times is not None:
            rows = self._pairs(field, context, out, record)
        else:
            rows = self.values(context, summed, out)
            record.hit(summed, rows)
        extra = [
            raw
            for input_name, source in zip(field.input_names, field.inputs, strict=True)
            if input_name != "currency" and not isinstance(source, str)
            for raw in [self.value(context, source, out)[0]]
        ]
        currencies = "None"
        if "currency" in field.input_names:
            source = field.inputs[field.input_names.index("currency")]
            assert isinstance(source, Steps)
            currencies = self.values(context, source, out)
            record.hit(source, currencies)
            record.line(f"if {currencies}: P[{name} + '.currency'] = {currencies}[0][1]")
            if not self.traced:
                out.append(f"{currencies} = [c for c in {currencies}]")
        convert = self.const(field.convert, "C")
        quantity = self.const(field.quantity, "C") if field.times is not None else "None"
        call = f"({rows}, {convert}, {quantity}, [{', '.join(extra)}], {currencies})"
        if self.traced:
            where = context.path if self.xml else self.nearest(context, summed)
            record.path(name, where)
            out.append(f"{var} = T.total{call}")
        else:
            out.append(f"{var} = sum_of{call}")

    def _units(self, field: Field, context: _Node, out, record, name: str, var: str) -> None:
        """A weight given in parts (pounds and ounces): each part in kg, added."""
        parts = []
        for factor, steps in field.units:
            raw, where = self.value(context, steps, out)
            record.hit(steps, f"{raw} is not None")
            parts.append(f"({raw}, {where or 'None'}, {self.const(factor, 'F')})")
        rows = f"({', '.join(parts)},)"
        convert = self.const(field.convert, "C")
        if self.traced:
            where = self.fresh("q")
            out.append(f"{var}, {where} = T.weigh({rows}, {convert})")
            record.path(name, f"({where} or {self.nearest(context, field.units[0][1])})")
        else:
            out.append(f"{var} = weigh({rows}, {convert})")

    def _pairs(self, field: Field, context: _Node, out, record) -> str:
        summed, times = field.paths[0], field.times
        assert times is not None
        prefix = pair_prefix(summed, times)
        assert prefix is not None
        start, rest = self.base(context, summed)
        entries = dataclasses.replace(
            rest, names=prefix, shown=rest.shown[: len(prefix)], attr=None
        )
        below = [
            dataclasses.replace(
                p, up=0, absolute=False, names=p.names[len(prefix) :], shown=p.shown[len(prefix) :]
            )
            for p in (summed, times)
        ]
        rows = self.fresh("m")
        args = ", ".join(self.const(s, "S") for s in (entries, *below))
        if self.traced:
            out.append(f"{rows} = T.pairs({start.var}, {start.path}, {args})")
            record.hit(summed, f"any(a[0] is not None for a, _ in {rows})")
            record.hit(times, f"any(b[0] is not None for _, b in {rows})")
        else:
            out.append(f"{rows} = PAIRS({start.var}, {args})")
        return rows

    # -- canonical objects --

    def build(
        self,
        table: Table,
        values: dict[str, str],
        context: _Node,
        out: list[str],
        position: str | None,
    ) -> str:
        var = self.fresh("o")
        kind = table.kind
        if kind == "item":
            own = {"item_id": f"{values.get('item_id')} or ''", "source_path": "path"}
            own |= {k: x for k, x in values.items() if k != "item_id"}
            out.append(f"{var} = {self.call(CanonicalItem, own)}")
        elif kind == "party":
            address = {k[8:]: x for k, x in values.items() if k.startswith("address.")}
            own = {k: x for k, x in values.items() if not k.startswith("address.")}
            own["address"] = self.call(Address, address)
            out.append(f"{var} = {self.call(Party, own)}")
        elif kind == "transport":
            present = " or ".join(f"{x} is not None" for x in values.values()) or "False"
            out.append(f"{var} = {self.call(Transport, values)} if {present} else None")
        elif kind == "line":
            number = values.get("line_no")
            line_no = f"{number} if {number} is not None else {position}" if number else position
            out.append(f"{var} = {self.call(ContentLine, values | {'line_no': line_no})}")
        else:
            cls, what, needed, keys = {
                "tax_id": (TaxId, "tax id", "scheme", ("value",)),
                "document": (Document, "document", "type", ("type", "number")),
            }[kind]
            present = " or ".join(f"{values.get(k, 'None')} is not None" for k in keys)
            args = self.call(cls, values)
            error = f"ConversionError('{what} has no {needed}', None)"
            out.append(f"{var} = None")
            out.append(f"if {present}:")
            lacking = f"{values.get(needed, 'None')} is None"
            if self.traced:
                out.append(f"    if {lacking}: T.fail({error}, {context.path}, {{}})")
                out.append(f"    else: {var} = {args}")
            else:
                out.append(f"    if {lacking}: raise {error}")
                out.append(f"    {var} = {args}")
        return var

    def call(self, cls: type, given: dict[str, str]) -> str:
        """``cls(...)`` with its fields' values by position, in field order: a dataclass's
        ``__init__`` looks each keyword up among its parameters (CanonicalItem by
        keyword: 1.1 us, by position: 0.5). A field before the last one given takes its
        default, or a fresh value from its factory."""
        fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
        assert set(given) <= {f.name for f in fields}, set(given)
        last = max((i for i, f in enumerate(fields) if f.name in given), default=-1)
        args = []
        for f in fields[: last + 1]:
            if f.name in given:
                args.append(given[f.name])
            elif f.default is not dataclasses.MISSING:
                args.append(self.const(f.default))
            elif f.default_factory is list:
                args.append("[]")
            elif f.default_factory is not dataclasses.MISSING:
                args.append(f"{self.const(f.default_factory, 'D')}()")
            else:
                raise AssertionError(f"{cls.__name__}.{f.name}: no value and no default")
        return f"{cls.__name__}({', '.join(args)})"


class _Record:
    """Traced code only: a table's field paths and the lint hits of its paths. ``live``
    guards a table whose node may be missing (its fields then record nothing, so that
    the rules' errors about them point at the item)."""

    def __init__(self, gen: _Generator, out: list[str], prefix: str) -> None:
        self.gen = gen
        self.out = out
        self.prefix = prefix
        self.live: str | None = None

    def name(self, field: str) -> str:
        """A Python expression for the canonical name of a field of this table."""
        return repr(field) if not self.prefix else f"{self.prefix} + {field!r}"

    def line(self, code: str) -> None:
        if self.gen.traced:
            self.out.append(f"if {self.live}: {code}" if self.live else code)

    def path(self, name: str, where: str) -> None:
        if where:
            self.line(f"P[{name}] = {where}")

    def hit(self, steps: Steps, found: str) -> None:
        """The path matched when ``found`` (a condition, or a list) is true."""
        if self.gen.traced:
            self.out.append(f"if {found}: T.hits.add(({steps.key!r}, {steps.text!r}))")


def _head(steps: Steps) -> Steps:
    """The steps without their last name: to the element whose child that name is."""
    return dataclasses.replace(steps, names=steps.names[:-1], shown=steps.shown[:-1])


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]
