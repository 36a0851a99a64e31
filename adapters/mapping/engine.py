"""The generic adapter: one TOML mapping file per (format, version) instead of Python code.

A mapping says where each canonical field is in the operator's document and how to
convert it; the format is described in docs/onboarding.md ("Mapping files").
:class:`Mapping` is the Adapter: it recognises documents, reads the message reference,
and translates items one at a time with the reader generated from the mapping
(:mod:`.generate`): fast, and traced again only for an item it refuses (every error with
its path) or whose field paths the canonical rules ask for.
"""

from __future__ import annotations

import hashlib
from collections import abc
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any

from adapters import convert
from adapters.convert import ConversionError, UnknownCode
from adapters.mapping import json_paths, plan, xml_paths
from adapters.mapping.generate import Reader, Unsupported, generate
from adapters.mapping.load import read
from adapters.mapping.paths import Steps
from adapters.mapping.plan import Plan
from adapters.mapping.trace import Trace
from gateway.canonical import CanonicalItem
from gateway.codes import ItemCode, MessageCode
from gateway.contract import ItemError, MessageRejected
from gateway.document import Document, Kind, iter_ndjson
from gateway.schemas import SchemaInvalid, json_problems


@dataclass(frozen=True, slots=True)
class LintFinding:
    """A mapped path that matched nothing in a sample document."""

    file: str
    key: str
    path: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: path {self.path!r} never matches in the sample"


class Mapping:
    """An Adapter driven by a mapping file."""

    def __init__(self, spec: dict[str, Any], file: str) -> None:
        self.file = file
        self.plan: Plan = plan.build(spec, file)
        try:
            self.reader: Reader = generate(self.plan)
        except Unsupported as exc:
            raise self.plan.checker.fail(exc.key, str(exc)) from None
        self.operator: str = self.plan.operator
        self.format: str = self.plan.format
        self.version: str = self.plan.version
        self.kind: Kind = self.plan.kind
        self.schema: str | None = self.plan.schema
        """A schema file name in xsd/ (or an absolute path, for a local onboarding copy)."""

    @classmethod
    def load(cls, source: Traversable | str) -> Mapping:
        """Load a mapping file, following ``extends`` to the files it builds on."""
        return cls(*read(source))

    def __repr__(self) -> str:
        return f"<Mapping {self.format}/{self.version} from {self.file}>"

    # -- Adapter protocol --

    def detect(self, doc: Document) -> bool:
        p = self.plan
        if doc.kind is not self.kind:
            return False
        top = self._top(doc)
        if top is None or (p.roots and self.kind is Kind.XML and top.tag not in p.roots):
            return False
        if not all(self._exists(top, path) for path in p.has):
            return False
        return all(self._text(top, path) == want for path, want in p.equals)

    def message_ref(self, doc: Document) -> str | None:
        p = self.plan
        if p.ref_path is not None:
            value = self._text(self._top(doc), p.ref_path)
            if value is not None:
                return value
        if p.ref_header is not None:
            value = convert.text(_header(doc.headers, p.ref_header))
            if value is not None:
                return value
        if p.ref_fallback == "sha256":
            return hashlib.sha256(doc.raw).hexdigest()
        return None

    def translate(self, doc: Document) -> Iterator[CanonicalItem | ItemError]:
        read_item = self.reader.read
        values = self._document_values(doc, traced=False)
        for index, item in self._counted(doc):
            try:
                out = read_item(item.node, item.path, values, item.up)
            except ConversionError:
                yield self.refusal(doc, index, item)
                continue
            out.field_paths = item
            yield out

    # -- traced reading --

    def trace(self, doc: Document, item: _Item) -> tuple[CanonicalItem, Trace]:
        """Read an item again, noting every value's path, every error and every hit."""
        trace: Trace
        if self.kind is Kind.XML:
            trace = xml_paths.XmlTrace({})
        else:
            trace = json_paths.JsonTrace(item.path + " " if self.kind is Kind.NDJSON else "")
        values = self._document_values(doc, traced=True)
        out = self.reader.trace(item.node, item.path, values, item.up, trace)
        return out, trace

    def refusal(self, doc: Document, index: int, item: _Item) -> ItemError:
        """The item error of an item the fast reader refused: its first error, the others
        named by :meth:`errors`."""
        errors = self.errors(doc, index, item)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return ItemError(first.index, first.item_id, first.path, first.code, first.message + more)

    def errors(self, doc: Document, index: int, item: _Item) -> list[ItemError]:
        """Every value of the item that cannot be read, each once, with its path."""
        out, trace = self.trace(doc, item)
        item_id = out.item_id or None
        found = [
            ItemError(
                index,
                item_id,
                path,
                ItemCode.CODE_UNKNOWN if isinstance(error, UnknownCode) else ItemCode.VALUE_INVALID,
                error.message,
            )
            for path, error in trace.unique_errors()
        ]
        if not found:  # the fast reader refused what the traced one reads: never silent
            found = [ItemError(index, item_id, item.path, ItemCode.VALUE_INVALID, "unreadable")]
        return found

    def every_error(self, doc: Document) -> list[ItemError]:
        """Every error of every item (``translate -v``, ``adapters test -v``)."""
        out: list[ItemError] = []
        for index, item in self._counted(doc):
            _, trace = self.trace(doc, item)
            if trace.errors:
                out.extend(self.errors(doc, index, item))
        return out

    # -- onboarding --

    def lint(self, doc: Document) -> list[LintFinding]:
        """The mapped paths that match nothing in any item of ``doc`` (a sample message)."""
        hits: set[tuple[str, str]] = set()
        for _, item in self._counted(doc):
            hits |= self.trace(doc, item)[1].hits
        origin_of = self.plan.checker.origin_of
        return [
            LintFinding(origin_of(key), key, text)
            for key, text in self.plan.lint_paths
            if (key, text) not in hits
        ]

    # -- the document --

    def _top(self, doc: Document) -> Any:
        """The document's top (NDJSON: the first line; None when there is none)."""
        if self.kind is not Kind.NDJSON:
            return doc.root
        for _, value in iter_ndjson(doc):
            return value
        return None

    def _select(self, top: Any, steps: Steps, prefix: str = "") -> list[tuple[Any, str]]:
        if top is None:
            return []
        if self.kind is Kind.XML:
            return xml_paths.select(top, steps)
        return json_paths.select(top, steps, prefix)

    def _exists(self, top: Any, steps: Steps) -> bool:
        return bool(self._select(top, steps))

    def _text(self, top: Any, steps: Steps) -> str | None:
        """The first value a path selects at the document's top, as text; None when there
        is none or it is no single value (an object where a reference should be)."""
        for hit, _ in self._select(top, steps):
            if self.kind is Kind.XML:
                value = xml_paths.text_of(hit, None) if not isinstance(hit, str) else hit
            else:
                value = xml_paths.as_text(hit)
            if value:
                return value
        return None

    def _document_values(self, doc: Document, *, traced: bool) -> tuple[Any, ...]:
        """The values of the mapping's paths from the document's root (once per
        document); traced, with their paths."""
        out = []
        for steps in self.reader.document_paths:
            value, path = None, ""
            for hit, where in self._select(doc.root, steps):
                if self.kind is Kind.XML and not isinstance(hit, str):
                    hit = xml_paths.text_of(hit, None)
                else:
                    hit = json_paths.scalar(hit) if self.kind is not Kind.XML else hit
                if hit is not None:
                    value, path = hit, where
                    break
            out.append((value, path) if traced else value)
        return tuple(out)

    def _counted(self, doc: Document) -> Iterator[tuple[int, _Item]]:
        """The items in document order, and the message refused when it declares a
        different number of items than it carries."""
        declared, where = self._declared_count(doc)
        count = 0
        for index, item in enumerate(self._items(doc)):
            count += 1
            if declared is not None and count > declared:
                break
            yield index, item
        if declared is not None and count != declared:
            carried = "more" if count > declared else str(count)
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH,
                f"the message declares {declared} items but carries {carried}",
                [{"path": where}],
            )

    def _declared_count(self, doc: Document) -> tuple[int | None, str]:
        """The number of items the message says it carries, when the mapping reads one."""
        path = self.plan.count
        if path is None:
            return None, ""
        top = self._top(doc)
        prefix = self._first_line_prefix(doc)
        found = self._select(top, path, prefix)
        raw, where = found[0] if found else (None, prefix.rstrip())
        try:
            value = json_paths.scalar(raw) if self.kind is not Kind.XML else raw
            if self.kind is Kind.XML and value is not None and not isinstance(value, str):
                value = xml_paths.text_of(value, None)
            declared = convert.integer(value)
        except ConversionError as exc:
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH, exc.message, [{"path": where}]
            ) from None
        if declared is None:
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH, "the item count is missing", [{"path": where}]
            )
        return declared, where

    def _first_line_prefix(self, doc: Document) -> str:
        if self.kind is not Kind.NDJSON:
            return ""
        for number, _ in iter_ndjson(doc):
            return f"line {number} "
        return ""

    def _items(self, doc: Document) -> Iterator[_Item]:
        if self.kind is Kind.NDJSON:
            for number, value in self._lines(doc):
                yield _Item(self, doc, value, f"line {number}", ())
            return
        steps = self.plan.items_path
        assert steps is not None
        if self.kind is Kind.XML:
            for node, path in xml_paths.items(doc.root, steps):
                yield _Item(self, doc, node, path, ())
        else:
            for node, path, up in json_paths.items(doc.root, steps):
                yield _Item(self, doc, node, path, up)

    def _lines(self, doc: Document) -> Iterator[tuple[int, Any]]:
        """NDJSON item lines, read one at a time; each line is checked against the schema
        as it comes, and a line that is neither the header nor an item breaks the file."""
        p = self.plan
        for position, (number, value) in enumerate(iter_ndjson(doc)):
            if self.schema is not None:
                problems = json_problems(self.schema, value)
                if problems:
                    raise SchemaInvalid(
                        self.schema,
                        [pr | {"path": f"line {number} {pr['path']}".strip()} for pr in problems],
                    )
            if position == 0 and p.header:
                continue
            if not isinstance(value, dict) or any(
                xml_paths.as_text(value.get(k)) != want for k, want in p.where
            ):
                key, want = p.where[0]
                raise SchemaInvalid(
                    self.schema or self.file,
                    [
                        {
                            "path": f"line {number} /{key}",
                            "message": f"expected an item line ({key} = {want!r})",
                        }
                    ],
                )
            yield number, value


class _Item(abc.Mapping[str, str]):
    """One item found in a document: its node, path and ancestors (JSON), for reading it
    and, when needed, reading it again traced.

    It is also the mapped item's ``CanonicalItem.field_paths``, worked out when first
    asked for: only items the canonical rules reject need them, so the fast reader names
    no path. One object an item, not two: every item of a message is held until the
    message is stored, and what is held, the collector walks."""

    __slots__ = ("_doc", "_mapping", "_paths", "node", "path", "up")

    def __init__(
        self, mapping: Mapping, doc: Document, node: Any, path: str, up: tuple[tuple[Any, str], ...]
    ) -> None:
        self._mapping = mapping
        self._doc = doc
        self.node = node
        self.path = path
        self.up = up
        self._paths: dict[str, str] | None = None

    def _known(self) -> dict[str, str]:
        if self._paths is None:
            self._paths = self._mapping.trace(self._doc, self)[1].paths
        return self._paths

    def __getitem__(self, key: str) -> str:
        return self._known()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._known()

    def __iter__(self) -> Iterator[str]:
        return iter(self._known())

    def __len__(self) -> int:
        return len(self._known())


def _header(headers: abc.Mapping[str, str], name: str) -> str | None:
    if name in headers:
        return headers[name]
    lower = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lower), None)
