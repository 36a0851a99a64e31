"""From a merged mapping spec to a :class:`Plan`: every key checked, every path compiled.

Loading is where an onboarding engineer learns what is wrong ("file: key: what"), so
every table, field, parameter, code list and path is checked here, once, and nothing is
left to discover per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.mapping.fields import FieldCompiler
from adapters.mapping.json_paths import JsonSyntax
from adapters.mapping.load import ORIGIN, Checker, clean, listed, merge
from adapters.mapping.paths import Path, as_text
from adapters.mapping.tables import (
    Build,
    Table,
    build_document,
    build_item,
    build_line,
    build_party,
    build_tax_id,
    build_transport,
)
from adapters.mapping.vocabulary import (
    CONTENT_FIELDS,
    DOCUMENT_FIELDS,
    ITEM_FIELDS,
    PARTY_FIELDS,
    PATH_PARAMS,
    SOURCES,
    TAX_ID_FIELDS,
    TRANSPORT_FIELDS,
    FieldType,
)
from adapters.mapping.xml_paths import XmlSyntax
from gateway.document import Kind

TOP_KEYS = {
    "operator",
    "format",
    "version",
    "kind",
    "schema",
    "namespaces",
    "detect",
    "message_ref",
    "items",
    "item",
    "party",
    "sender",
    "addressee",
    "contents",
    "documents",
    "transport",
    "codes",
    "patterns",
}
_LISTS: tuple[tuple[str, dict[str, FieldType], Build, bool], ...] = (
    ("contents", CONTENT_FIELDS, build_line, True),
    ("documents", DOCUMENT_FIELDS, build_document, True),
    ("transport", TRANSPORT_FIELDS, build_transport, False),
)
"""The item's tables besides the parties: name, fields, canonical object, many entries."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A mapping file compiled."""

    operator: str
    format: str
    version: str
    kind: Kind
    roots: frozenset[str]
    has: tuple[Path, ...]
    equals: tuple[tuple[Path, str], ...]
    ref_path: Path | None
    ref_header: str | None
    ref_fallback: str | None
    items_path: Path | None
    where: tuple[tuple[str, str], ...]
    header: bool
    count: Path | None
    item: Table
    lint_paths: tuple[tuple[str, str], ...]
    """(key, path) of every mapped path, for lint."""
    checker: Checker


def compile_plan(spec: dict[str, Any], file: str) -> Plan:
    """Raises MappingError naming the file and the key of the first problem."""
    return _Compiler(spec, file).plan()


class _Compiler:
    """Checks a merged spec while compiling it; records every mapped path for lint."""

    def __init__(self, spec: dict[str, Any], file: str) -> None:
        self.spec = spec
        self.check = check = Checker(spec, file)
        self.lint_paths: list[tuple[str, str]] = []
        check.only(spec, "", TOP_KEYS)
        for key in ("operator", "format", "version"):
            check.text(spec, key)
        try:
            self.kind = Kind(check.text(spec, "kind"))
        except ValueError:
            raise check.fail("kind", f"{spec['kind']!r} is not one of xml, json, ndjson") from None
        namespaces = check.strings(spec.get("namespaces", {}), "namespaces")
        self.syntax = XmlSyntax(namespaces) if self.kind is Kind.XML else JsonSyntax()
        codes = {
            name: check.strings(table, f"codes.{name}")
            for name, table in clean(check.table_of(spec, "codes")).items()
        }
        patterns = {
            name: check.regexes(table, f"patterns.{name}")
            for name, table in clean(check.table_of(spec, "patterns")).items()
        }
        self.fields = FieldCompiler(self.path, check.fail, codes, patterns)

    def path(self, text: Any, key: str, *, lint: bool = True) -> Path:
        if not isinstance(text, str):
            raise self.check.fail(key, f"a path must be a string, not {text!r}")
        try:
            compiled = self.syntax.compile(text, key)
        except ValueError as exc:
            raise self.check.fail(key, str(exc)) from None
        if lint:
            self.lint_paths.append((key, text))
        return compiled

    def _optional(self, table: dict[str, Any], name: str, key: str) -> Path | None:
        return self.path(table[name], key, lint=False) if name in table else None

    def plan(self) -> Plan:
        check, spec = self.check, self.spec
        detect = check.only(check.table_of(spec, "detect"), "detect.", {"root", "has", "equals"})
        ref = check.only(
            check.table_of(spec, "message_ref"), "message_ref.", {"path", "header", "fallback"}
        )
        if ref.get("fallback") not in (None, "sha256"):
            raise check.fail("message_ref.fallback", 'the only fallback is "sha256"')
        items = check.only(
            check.table_of(spec, "items"), "items.", {"path", "where", "header", "count"}
        )
        plan = Plan(
            operator=spec["operator"],
            format=spec["format"],
            version=spec["version"],
            kind=self.kind,
            roots=self._roots(detect),
            has=tuple(self.path(h, "detect.has", lint=False) for h in listed(detect, "has")),
            equals=tuple(
                (self.path(p, f"detect.equals.{p}", lint=False), as_text(v) or "")
                for p, v in clean(check.table_of(detect, "equals")).items()
            ),
            ref_path=self._optional(ref, "path", "message_ref.path"),
            ref_header=ref.get("header"),
            ref_fallback=ref.get("fallback"),
            items_path=self._optional(items, "path", "items.path"),
            where=tuple(
                (k.lstrip("/"), as_text(v) or "")
                for k, v in clean(check.table_of(items, "where")).items()
            ),
            header=bool(items.get("header", False)),
            count=self._optional(items, "count", "items.count"),
            item=self._item_table(),
            lint_paths=tuple(self.lint_paths),
            checker=check,
        )
        if not (plan.roots or plan.has or plan.equals):
            raise check.fail("detect", "say how to recognise the format: root, has or equals")
        if self.kind is Kind.NDJSON and not plan.where:
            raise check.fail("items.where", "required for ndjson: the field values of item lines")
        if self.kind is not Kind.NDJSON and plan.items_path is None:
            raise check.fail("items.path", "required: the path of the items")
        return plan

    def _roots(self, detect: dict[str, Any]) -> frozenset[str]:
        try:
            return frozenset(self.syntax.qname(r) for r in listed(detect, "root"))
        except ValueError as exc:
            raise self.check.fail("detect.root", str(exc)) from None

    # -- tables --

    def _item_table(self) -> Table:
        check, spec = self.check, self.spec
        item = check.only(check.table_of(spec, "item"), "item.", set(ITEM_FIELDS))
        if "item_id" not in item:
            raise check.fail("item.item_id", "required: where the item identifier is")
        fields = tuple(
            self.fields.field(k, v, ITEM_FIELDS[k], f"item.{k}") for k, v in item.items()
        )
        party = _flatten_address(check.table_of(spec, "party"))
        subtables = [self._party(party, name) for name in ("sender", "addressee")]
        for name, known, build, many in _LISTS:
            if name in spec:
                table = check.only(spec[name], f"{name}.", {"path", *known})
                subtables.append(self._table(name, table, known, build, many=many, where=name))
        return Table("", None, False, fields, tuple(subtables), build_item)

    def _party(self, template: dict[str, Any], name: str) -> Table:
        """Sender or addressee: the shared [party] fields, the party's own ones on top,
        with ``{var}`` in paths replaced by the party's ``vars``."""
        check = self.check
        own = _flatten_address(check.table_of(self.spec, name))
        own = check.only(own, f"{name}.", {"path", "vars", "tax_ids", *PARTY_FIELDS})
        variables = check.strings(own.pop("vars", {}), f"{name}.vars")
        context = own.pop("path", None)
        merged = clean(merge(template, own))
        tax_ids = merged.pop("tax_ids", None)
        fields = []
        for key, spec in merged.items():
            where = f"{name}.{key}" if key in own else f"party.{key}"
            if key not in PARTY_FIELDS:
                raise check.fail(where, f"unknown party field; known: {', '.join(PARTY_FIELDS)}")
            fields.append(
                self.fields.field(key, _substitute(spec, variables), PARTY_FIELDS[key], where)
            )
        fields.sort(key=lambda f: f.conversion == "phone")  # a phone needs the country first
        subtables: tuple[Table, ...] = ()
        if tax_ids is not None:
            where = f"{name}.tax_ids" if "tax_ids" in own else "party.tax_ids"
            table = check.only(
                _substitute(tax_ids, variables), f"{where}.", {"path", *TAX_ID_FIELDS}
            )
            subtables = (
                self._table("tax_ids", table, TAX_ID_FIELDS, build_tax_id, many=True, where=where),
            )
        ctx = self.path(_substitute(context, variables), f"{name}.path") if context else None
        return Table(name, ctx, False, tuple(fields), subtables, build_party)

    def _table(
        self,
        name: str,
        table: dict[str, Any],
        known: dict[str, FieldType],
        build: Build,
        *,
        many: bool,
        where: str,
    ) -> Table:
        context = table.pop("path", None)
        if many and context is None:
            raise self.check.fail(f"{where}.path", "required: the path of each entry")
        ctx = self.path(context, f"{where}.path") if context is not None else None
        fields = tuple(self.fields.field(k, v, known[k], f"{where}.{k}") for k, v in table.items())
        return Table(name, ctx, many, fields, (), build)


def _flatten_address(table: dict[str, Any]) -> dict[str, Any]:
    """``address.street = ...`` in TOML nests a table; fields are named flat."""
    if not isinstance(table.get("address"), dict):
        return table
    address = table["address"]
    out = {k: v for k, v in table.items() if k != "address"}
    out.update({f"address.{k}": v for k, v in clean(address).items()})
    out[ORIGIN] = {
        **table.get(ORIGIN, {}),
        **{f"address.{k}": f for k, f in address.get(ORIGIN, {}).items()},
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
        paths = {*SOURCES, *PATH_PARAMS, "path", "scheme", "value"} - {"const"}
        return {k: _substitute(v, variables) if k in paths else v for k, v in spec.items()}
    return spec
