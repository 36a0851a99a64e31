"""The generic adapter: one TOML mapping file per (format, version) instead of Python code.

A mapping says where each canonical field is in the operator's document and how to
convert it; the format is described in docs/onboarding.md ("Mapping files").
:class:`Mapping` is the Adapter: it recognises documents, reads the message reference,
and translates items one at a time, each into a CanonicalItem or an ItemError.
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
from adapters.mapping.compile import compile_plan
from adapters.mapping.json_paths import JsonRun
from adapters.mapping.load import read
from adapters.mapping.paths import Context, Path, Unreadable, as_text
from adapters.mapping.tables import ItemReading
from adapters.mapping.xml_paths import XmlRun
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
        self._plan = plan = compile_plan(spec, file)
        self.operator: str = plan.operator
        self.format: str = plan.format
        self.version: str = plan.version
        self.kind: Kind = plan.kind
        self.schema: str | None = spec.get("schema")
        """A schema file name in xsd/ (or an absolute path, for a local onboarding copy)."""

    @classmethod
    def load(cls, source: Traversable | str) -> Mapping:
        """Load a mapping file, following ``extends`` to the files it builds on."""
        return cls(*read(source))

    def __repr__(self) -> str:
        return f"<Mapping {self.format}/{self.version} from {self.file}>"

    # -- Adapter protocol --

    def detect(self, doc: Document) -> bool:
        plan = self._plan
        if doc.kind is not self.kind or (plan.roots and doc.root.tag not in plan.roots):
            return False
        top = self._top(doc)
        if top is None or not all(path.exists(top) for path in plan.has):
            return False
        return all(_text_at(path, top) == want for path, want in plan.equals)

    def message_ref(self, doc: Document) -> str | None:
        plan = self._plan
        if plan.ref_path is not None:
            value = _text_at(plan.ref_path, self._top(doc))
            if value is not None:
                return value
        if plan.ref_header is not None:
            value = convert.text(_header(doc.headers, plan.ref_header))
            if value is not None:
                return value
        if plan.ref_fallback == "sha256":
            return hashlib.sha256(doc.raw).hexdigest()
        return None

    def translate(self, doc: Document) -> Iterator[CanonicalItem | ItemError]:
        return self._translate(doc, None)

    # -- onboarding --

    def lint(self, doc: Document) -> list[LintFinding]:
        """The mapped paths that match nothing in any item of ``doc`` (a sample message)."""
        hits: set[tuple[str, str]] = set()
        for _ in self._translate(doc, hits):
            pass
        origin_of = self._plan.checker.origin_of
        return [
            LintFinding(origin_of(key), key, text)
            for key, text in self._plan.lint_paths
            if (key, text) not in hits
        ]

    # -- translation --

    def _top(self, doc: Document) -> Context | None:
        """The document's top (NDJSON: the first line; None when there is none)."""
        if self.kind is Kind.XML:
            return XmlRun().top(doc.root)
        if self.kind is Kind.JSON:
            return JsonRun(doc.root).top()
        for number, value in iter_ndjson(doc):
            return JsonRun(value, f"line {number} ").top()
        return None

    def _translate(
        self, doc: Document, hits: set[tuple[str, str]] | None
    ) -> Iterator[CanonicalItem | ItemError]:
        declared, where = self._declared_count(doc)
        count = 0
        for index, ctx in enumerate(self._items(doc)):
            count += 1
            if declared is not None and count > declared:
                break
            yield self._item(index, ctx, hits)
        if declared is not None and count != declared:
            carried = "more" if count > declared else str(count)
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH,
                f"the message declares {declared} items but carries {carried}",
                [{"path": where}],
            )

    def _declared_count(self, doc: Document) -> tuple[int | None, str]:
        """The number of items the message says it carries, when the mapping reads one."""
        path = self._plan.count
        if path is None:
            return None, ""
        top = self._top(doc)
        try:
            raw, where = (None, "") if top is None else path.first(top)
            declared = convert.integer(raw)
        except Unreadable as exc:  # an object where the count should be
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH, exc.error.message, [{"path": exc.path}]
            ) from None
        except ConversionError as exc:
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH, exc.message, [{"path": where}]
            ) from None
        if declared is None:
            raise MessageRejected(
                MessageCode.ITEM_COUNT_MISMATCH, "the item count is missing", [{"path": where}]
            )
        return declared, where

    def _items(self, doc: Document) -> Iterator[Context]:
        if self.kind is Kind.NDJSON:
            yield from self._lines(doc)
            return
        top = self._top(doc)
        assert top is not None and self._plan.items_path is not None
        items = self._plan.items_path.contexts(top, True)
        items.reverse()
        while items:  # an item read is let go, with the children index it was given
            yield items.pop()

    def _lines(self, doc: Document) -> Iterator[Context]:
        """NDJSON item lines, read one at a time; each line is checked against the schema
        as it comes, and a line that is neither the header nor an item breaks the file."""
        plan = self._plan
        for position, (number, value) in enumerate(iter_ndjson(doc)):
            if self.schema is not None:
                problems = json_problems(self.schema, value)
                if problems:
                    raise SchemaInvalid(
                        self.schema,
                        [p | {"path": f"line {number} {p['path']}".strip()} for p in problems],
                    )
            if position == 0 and plan.header:
                continue
            if not isinstance(value, dict) or any(
                as_text(value.get(k)) != want for k, want in plan.where
            ):
                key, want = plan.where[0]
                raise SchemaInvalid(
                    self.schema or self.file,
                    [
                        {
                            "path": f"line {number} /{key}",
                            "message": f"expected an item line ({key} = {want!r})",
                        }
                    ],
                )
            yield JsonRun(value, f"line {number} ").top()

    def _item(
        self, index: int, ctx: Context, hits: set[tuple[str, str]] | None
    ) -> CanonicalItem | ItemError:
        ctx.run.begin_item(ctx)
        reading = ItemReading(hits)
        values = reading.read(self._plan.item, ctx)
        item_id = values.pop("item_id", None)
        if reading.errors:
            path, error = reading.errors[0]
            code = (
                ItemCode.CODE_UNKNOWN if isinstance(error, UnknownCode) else ItemCode.VALUE_INVALID
            )
            more = f" (and {len(reading.errors) - 1} more)" if len(reading.errors) > 1 else ""
            return ItemError(index, item_id, path, code, f"{error.message}{more}")
        return CanonicalItem(
            item_id=item_id or "", source_path=ctx.path, field_paths=reading.paths, **values
        )


def _text_at(path: Path, top: Context | None) -> str | None:
    """The first value a path selects at the document's top, as text; None when there is
    none or it is no single value (an object where a reference should be)."""
    if top is None:
        return None
    try:
        return convert.text(path.first(top)[0])
    except Unreadable:
        return None


def _header(headers: abc.Mapping[str, str], name: str) -> str | None:
    if name in headers:
        return headers[name]
    lower = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lower), None)
