"""Tables: the fields read at one context (the item, a party, each line), and the
canonical object each table entry becomes.

An item is read in two passes: first every table's contexts are located (so that each
list entry has its indexed path before anything reads through it), then every field is
read and converted, table by table, in the mapping's order. A value that cannot be read
is recorded as an error and the item goes on, so that its first error can be reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters import convert
from adapters.convert import ConversionError
from adapters.mapping.fields import Field, Scope
from adapters.mapping.paths import Context, Path, Unreadable
from adapters.mapping.vocabulary import ADDRESS_FIELDS
from gateway.canonical import Address, ContentLine, Document, Party, TaxId, Transport

Build = Callable[[dict[str, Any], int], Any]
"""Makes the canonical object from the field values and the entry's 1-based position."""


@dataclass(frozen=True, slots=True)
class Table:
    """The fields read at one context, and the tables read below it."""

    name: str
    context: Path | None
    """The path of the table's node(s) from its parent's; None: the parent's node."""
    many: bool
    fields: tuple[Field, ...]
    subtables: tuple[Table, ...]
    build: Build


class _Entry:
    """A located table entry: its context and the located entries of its subtables."""

    __slots__ = ("ctx", "subs")

    def __init__(self, ctx: Context, subs: list[tuple[Table, list[_Entry]]]) -> None:
        self.ctx = ctx
        self.subs = subs


class ItemReading(Scope):
    """Reads one item's tables into canonical values, its field paths and errors."""

    __slots__ = ()

    def read(self, table: Table, ctx: Context) -> Any:
        return self._fill(table, self._locate(table, ctx), "", 1)

    def _locate(self, table: Table, ctx: Context) -> _Entry:
        """The first pass: every context below ``ctx``, list entries registered."""
        ctx.run.prepare(ctx)
        subs = []
        for sub in table.subtables:
            if sub.context is None:
                found = [ctx]
            else:
                found = sub.context.contexts(ctx, sub.many)
                if found and self.hits is not None:
                    self.hits.add((sub.context.key, sub.context.text))
            subs.append((sub, [self._locate(sub, c) for c in (found if sub.many else found[:1])]))
        return _Entry(ctx, subs)

    def _fill(self, table: Table, entry: _Entry, prefix: str, position: int) -> Any:
        """The second pass: the entry's fields, then its subtables, then its object."""
        ctx = entry.ctx
        self.ctx, self.prefix, self.values = ctx, prefix, {}
        values, paths, errors, hits = self.values, self.paths, self.errors, self.hits
        for name, _, source, read, conv in table.fields:
            value, where = None, ""
            try:
                if source is None:
                    raw, where = read(self)  # type: ignore[misc]
                else:
                    raw, where = source.first(ctx)
                    if hits is not None and raw is not None:
                        hits.add((source.key, source.text))
                if raw is not None:
                    if conv is not None:
                        value = conv(raw, where, self)
                    else:  # plain text, the commonest conversion
                        value = raw.strip() if isinstance(raw, str) else convert.text(raw)
            except ConversionError as exc:
                errors.append((where, exc))
            except Unreadable as unreadable:
                errors.append((unreadable.path, unreadable.error))
            values[name] = value
            if where:
                paths[prefix + name] = where
        for sub, entries in entry.subs:
            values[sub.name] = self._fill_sub(sub, entries, ctx, prefix)
        try:
            return table.build(values, position)
        except ConversionError as exc:
            errors.append((ctx.path, exc))
            return None

    def _fill_sub(self, sub: Table, entries: list[_Entry], ctx: Context, prefix: str) -> Any:
        name = prefix + sub.name
        if not sub.many:
            if not entries:  # its fields' errors point at the context, like a schema's
                return sub.build({f.name: None for f in sub.fields}, 1)
            self.paths[name] = entries[0].ctx.path
            return self._fill(sub, entries[0], name + ".", 1)
        if not entries:
            return []
        assert sub.context is not None
        self.paths[name] = sub.context.list_path(ctx)
        out = []
        for position, entry in enumerate(entries, start=1):
            entry_name = f"{name}[{position}]"
            self.paths[entry_name] = entry.ctx.path
            value = self._fill(sub, entry, entry_name + ".", position)
            if value is not None:
                out.append(value)
        return out


# --- canonical objects ----------------------------------------------------------------------


def build_item(values: dict[str, Any], _: int) -> dict[str, Any]:
    return values


def build_party(values: dict[str, Any], _: int) -> Party:
    address = Address(
        lines=values.get("address.lines") or [],
        **{k: values.get(f"address.{k}") for k in ADDRESS_FIELDS if k != "lines"},
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


def build_tax_id(values: dict[str, Any], _: int) -> TaxId | None:
    if values.get("value") is None:
        return None
    return TaxId(scheme=_require(values, "scheme", "tax id"), value=values["value"])


def build_document(values: dict[str, Any], _: int) -> Document | None:
    if values.get("type") is None and values.get("number") is None:
        return None
    return Document(type=_require(values, "type", "document"), number=values.get("number"))


def build_line(values: dict[str, Any], position: int) -> ContentLine:
    """A line numbered by the operator, or by its position when the operator does not."""
    if values.get("line_no") is None:
        values["line_no"] = position
    return ContentLine(**values)


def build_transport(values: dict[str, Any], _: int) -> Transport | None:
    return Transport(**values) if any(v is not None for v in values.values()) else None
