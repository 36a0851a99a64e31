"""From a merged mapping spec to a :class:`Plan`: every key checked, every path compiled.

Loading is where an onboarding engineer learns what is wrong ("file: key: what"), so
every table, field, parameter, code list and path is checked here, once, and nothing is
left to discover per item. The plan is plain data: tables of fields, each with its source
paths, its conversion (a function with its constants bound) and its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pycountry

from adapters import convert
from adapters.convert import ConversionError
from adapters.mapping import conversions
from adapters.mapping.conversions import Converter, Patterns
from adapters.mapping.json_paths import JsonSyntax
from adapters.mapping.load import ORIGIN, Checker, MappingError, clean, listed, merge
from adapters.mapping.paths import Steps
from adapters.mapping.vocabulary import (
    CONTENT_FIELDS,
    DOCUMENT_FIELDS,
    ITEM_FIELDS,
    LINES,
    NUMERIC,
    PARAMS,
    PARTY_FIELDS,
    PATH_PARAMS,
    SOURCES,
    TAX_ID_FIELDS,
    TRANSPORT_FIELDS,
    WHAT,
    FieldType,
    conversions_for,
)
from adapters.mapping.xml_paths import XmlSyntax, as_text
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
_LISTS: tuple[tuple[str, dict[str, FieldType], bool], ...] = (
    ("contents", CONTENT_FIELDS, True),
    ("documents", DOCUMENT_FIELDS, True),
    ("transport", TRANSPORT_FIELDS, False),
)
"""The item's tables besides the parties: name, fields, many entries."""


@dataclass(frozen=True, slots=True)
class Field:
    """One canonical field: where its value comes from and how it is converted."""

    name: str
    """Its canonical name in its table (``name``, ``address.city``)."""
    key: str
    """Where the mapping sets it (``party.name``), for lint."""
    conversion: str
    source: str
    """One of SOURCES, or ``lines`` for address lines (every value of every path)."""
    paths: tuple[Steps, ...]
    convert: Converter | None
    """None: plain text, done inline."""
    inputs: tuple[Steps | str, ...] = ()
    """The converter's arguments after the raw value: document paths, or the canonical
    name of another field of the same table (a phone's address.country)."""
    input_names: tuple[str, ...] = ()
    times: Steps | None = None
    """The quantity a per-unit value is multiplied by."""
    quantity: Converter | None = None
    constant: Any = None
    sep: str = " "
    units: tuple[tuple[Decimal, Steps], ...] = ()
    """``units``: kilograms per unit of each part, and the part's path."""
    refers: str | None = None
    """``field``: the canonical field (of this table, or of the item through a party:
    ``addressee.address.country``) whose value this one derives from."""


@dataclass(frozen=True, slots=True)
class Table:
    """The fields read at one context, and the tables read below it."""

    name: str
    """``""`` for the item; ``sender``, ``contents``, ``tax_ids``..."""
    kind: str
    """The canonical object an entry becomes: item, party, tax_id, line, document,
    transport."""
    context: Steps | None
    """The path of the table's node(s) from its parent's; None: the parent's node."""
    many: bool
    fields: tuple[Field, ...]
    subtables: tuple[Table, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """A mapping file compiled."""

    operator: str
    format: str
    version: str
    kind: Kind
    schema: str | None
    roots: frozenset[str]
    has: tuple[Steps, ...]
    equals: tuple[tuple[Steps, str], ...]
    ref_path: Steps | None
    ref_header: str | None
    ref_fallback: str | None
    items_path: Steps | None
    where: tuple[tuple[str, str], ...]
    header: bool
    count: Steps | None
    item: Table
    lint_paths: tuple[tuple[str, str], ...]
    """(key, path) of every mapped path, for lint."""
    checker: Checker


def build(spec: dict[str, Any], file: str) -> Plan:
    """Raises MappingError naming the file and the key of the first problem."""
    return _Builder(spec, file).plan()


class _Builder:
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
        self.codes = {
            name: check.strings(table, f"codes.{name}")
            for name, table in clean(check.table_of(spec, "codes")).items()
        }
        self.patterns: Patterns = {
            name: check.regexes(table, f"patterns.{name}")
            for name, table in clean(check.table_of(spec, "patterns")).items()
        }

    def path(self, text: Any, key: str, *, lint: bool = True) -> Steps:
        if not isinstance(text, str):
            raise self.check.fail(key, f"a path must be a string, not {text!r}")
        try:
            compiled = self.syntax.compile(text, key)
        except ValueError as exc:
            raise self.check.fail(key, str(exc)) from None
        if lint:
            self.lint_paths.append((key, text))
        return compiled

    def _optional(self, table: dict[str, Any], name: str, key: str) -> Steps | None:
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
            schema=spec.get("schema"),
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
        fields = tuple(self.field(k, v, ITEM_FIELDS[k], f"item.{k}") for k, v in item.items())
        party = _flatten_address(check.table_of(spec, "party"))
        subtables = [self._party(party, name) for name in ("sender", "addressee")]
        for name, known, many in _LISTS:
            if name in spec:
                table = check.only(spec[name], f"{name}.", {"path", *known})
                subtables.append(self._table(name, table, known, many=many, where=name))
        item_table = Table("", "item", None, False, fields, tuple(subtables))
        self._check_derived(item_table)
        return item_table

    def _check_derived(self, table: Table) -> None:
        """A ``field`` source names a field of its own table, or from the item, one of a
        party or the transport (``addressee.address.country``), given before it; it is
        taken as it is, or converted when it is text."""
        known = {f.name: f for f in table.fields if f.refers is None}
        for sub in table.subtables:
            if not sub.many:
                known.update({f"{sub.name}.{f.name}": f for f in sub.fields})
        for field in table.fields:
            if field.refers is None:
                continue
            source = known.get(field.refers)
            if source is None:
                choices = ", ".join(sorted(known)) or "none"
                raise self.check.fail(
                    f"{field.key}.field", f"{field.refers!r} is no field here; known: {choices}"
                )
            textual = source.conversion in ("text", "hs", "country", "phone")
            if field.convert is not None and not textual:
                raise self.check.fail(
                    f"{field.key}.field",
                    f"{field.refers!r} is {source.conversion}: only text can be converted again",
                )
            known[field.name] = field
        for sub in table.subtables:
            self._check_derived(sub)

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
            fields.append(self.field(key, _substitute(spec, variables), PARTY_FIELDS[key], where))
        fields.sort(key=lambda f: f.conversion == "phone")  # a phone needs the country first
        subtables: tuple[Table, ...] = ()
        if tax_ids is not None:
            where = f"{name}.tax_ids" if "tax_ids" in own else "party.tax_ids"
            table = check.only(
                _substitute(tax_ids, variables), f"{where}.", {"path", *TAX_ID_FIELDS}
            )
            subtables = (self._table("tax_ids", table, TAX_ID_FIELDS, many=True, where=where),)
        ctx = self.path(_substitute(context, variables), f"{name}.path") if context else None
        return Table(name, "party", ctx, False, tuple(fields), subtables)

    def _table(
        self,
        name: str,
        table: dict[str, Any],
        known: dict[str, FieldType],
        *,
        many: bool,
        where: str,
    ) -> Table:
        context = table.pop("path", None)
        if many and context is None:
            raise self.check.fail(f"{where}.path", "required: the path of each entry")
        ctx = self.path(context, f"{where}.path") if context is not None else None
        fields = tuple(self.field(k, v, known[k], f"{where}.{k}") for k, v in table.items())
        kind = {"contents": "line", "documents": "document", "tax_ids": "tax_id"}.get(name, name)
        return Table(name, kind, ctx, many, fields, ())

    # -- fields --

    def field(self, name: str, spec: Any, kind: FieldType, key: str) -> Field:
        if isinstance(spec, str) or (kind == LINES and isinstance(spec, list)):
            spec = {"path": spec}
        if not isinstance(spec, dict):
            raise self.check.fail(key, "a field is a path, or a table such as { path = ... }")
        spec = clean(spec)
        sources = [s for s in SOURCES if s in spec]
        if len(sources) != 1:
            raise self.check.fail(key, f"give exactly one of {', '.join(SOURCES)}")
        source = sources[0]
        conversion = self._conversion(spec, kind, key)
        allowed = {*SOURCES, "sep", "convert", *PARAMS[conversion]}
        for param in spec:
            if param not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.check.fail(
                    f"{key}.{param}", f"not a parameter of {conversion!r}: {known}"
                )
        self._check_source(source, conversion, kind, spec, key)
        texts = [] if source in ("const", "units", "field") else spec[source]
        texts = [texts] if isinstance(texts, str) else texts
        if source in ("first", "join") and (not isinstance(texts, list) or len(texts) < 2):
            raise self.check.fail(f"{key}.{source}", "give a list of at least two paths")
        params = {p: v for p, v in spec.items() if p in PARAMS[conversion]}
        paths = tuple(self.path(t, key) for t in texts)
        table = self._code_table(params, kind, key)
        self._check_params(params, conversion, key, table)
        converter = conversions.make(conversion, name, params, table, self.patterns)
        read_beside = conversions.inputs(params)
        names = tuple(conversions.DOCUMENT_PARAMS[p] for p in read_beside)
        inputs: tuple[Steps | str, ...] = tuple(
            self.path(params[p], f"{key}.{p}") for p in read_beside
        )
        if conversion == "phone" and "country_path" not in params:
            names, inputs = ("country",), ("address.country",)
        times = self.path(params["times"], f"{key}.times") if "times" in params else None
        if source == "sum" and times is not None:
            self._check_pairs(paths[0], times, key)
        quantity = conversions.quantity(params.get("decimal_comma", False)) if times else None
        constant = None
        if source == "const":
            constant = self._constant(converter, spec["const"], key, len(names))
        units = self._units(spec["units"], key) if source == "units" else ()
        if source == "units":
            converter = conversions.quantity(params.get("decimal_comma", False))
        return Field(
            name=name,
            key=key,
            conversion=conversion,
            source="lines" if kind == LINES else source,
            paths=paths,
            convert=converter,
            inputs=inputs,
            input_names=names,
            times=times,
            quantity=quantity,
            constant=constant,
            sep=spec.get("sep", " "),
            units=units,
            refers=spec.get("field"),
        )

    def _check_source(
        self, source: str, conversion: str, kind: FieldType, spec: dict[str, Any], key: str
    ) -> None:
        """A source that cannot feed this field is refused, saying what can."""
        if source == "sum" and conversion not in NUMERIC:
            raise self.check.fail(
                f"{key}.sum", "sum adds numbers: use it on decimal, weight or money"
            )
        if kind == LINES and source != "path":
            raise self.check.fail(key, "address lines take path = a path or a list of paths")
        if source == "units" and conversion != "weight":
            raise self.check.fail(f"{key}.units", "units adds the parts of a weight: kg fields")
        if source == "units" and ({"unit", "unit_path"} & set(spec)):
            raise self.check.fail(f"{key}.units", "give units, or unit / unit_path, not both")
        if source == "field" and not isinstance(spec["field"], str):
            raise self.check.fail(f"{key}.field", "the canonical name of another field")
        if source == "field" and ({"times"} & set(spec)):
            raise self.check.fail(f"{key}.times", "a derived field takes the value as it is")

    def _units(self, table: Any, key: str) -> tuple[tuple[Decimal, Steps], ...]:
        """A weight in parts (``{ lb = "weight/lb", oz = "weight/oz" }``)."""
        if not isinstance(table, dict) or not clean(table):
            raise self.check.fail(f"{key}.units", 'a table of unit = path: { lb = "...", ... }')
        out = []
        for unit, path in clean(table).items():
            try:
                factor = convert.kg_per(unit)
            except ConversionError as exc:
                raise self.check.fail(f"{key}.units.{unit}", exc.message) from None
            out.append((factor, self.path(path, f"{key}.units.{unit}")))
        return tuple(out)

    def _conversion(self, spec: dict[str, Any], kind: FieldType, key: str) -> str:
        allowed = conversions_for(kind)
        if "convert" in spec:
            conversion = spec["convert"]
        elif "codes" in spec:
            conversion = "code"
        elif "patterns" in spec:
            conversion = "match"
        else:
            conversion = allowed[0]
        if conversion not in allowed:
            choices = "; ".join(f"{c} ({WHAT[c]})" for c in allowed)
            raise self.check.fail(
                f"{key}.convert",
                f"{conversion!r} is not a conversion for this field; it takes: {choices}",
            )
        if conversion == "code" and isinstance(kind, str) and "codes" not in spec:
            raise self.check.fail(f"{key}.codes", "name the code list ([codes.NAME]) to use")
        if conversion == "match" and "patterns" not in spec:
            raise self.check.fail(
                f"{key}.patterns", "name the pattern list ([patterns.NAME]) to use"
            )
        return conversion

    def _code_table(self, params: dict[str, Any], kind: FieldType, key: str) -> dict | None:
        """The code list a field uses, its values turned into the field's enum members."""
        name = params.get("codes")
        if name is None:
            return None if isinstance(kind, str) else {m.value: m for m in kind}
        if name not in self.codes:
            raise self.check.fail(f"{key}.codes", f"no code list [codes.{name}] in the mapping")
        if isinstance(kind, str):
            return self.codes[name]
        allowed = {m.value: m for m in kind}
        table = {}
        for code_value, canonical in self.codes[name].items():
            if canonical not in allowed:
                raise self.check.fail(
                    f"codes.{name}.{code_value}",
                    f"{canonical!r} is not a canonical {key.rpartition('.')[2]}: "
                    f"{', '.join(allowed)}",
                )
            table[code_value] = allowed[canonical]
        return table

    def _check_params(
        self, params: dict[str, Any], conversion: str, key: str, table: dict | None
    ) -> None:
        """Parameters that cannot work together, or whose values cannot work at all, are
        refused here rather than found out item by item."""
        fail = self.check.fail
        patterns = params.get("patterns")
        if patterns is not None:
            if patterns not in self.patterns:
                raise fail(f"{key}.patterns", f"no pattern list [patterns.{patterns}]")
            for result, _ in self.patterns[patterns] if table else ():
                if result not in table:  # type: ignore[operator]
                    raise fail(
                        f"patterns.{patterns}.{result}",
                        f"{result!r} is not a canonical {key.rpartition('.')[2]}: "
                        f"{', '.join(table)}",  # type: ignore[arg-type]
                    )
        for fixed, path in (("unit", "unit_path"), ("zone", "zone_path")):
            if fixed in params and path in params:
                raise fail(f"{key}.{fixed}", f"give {fixed} or {path}, not both")
        if "slice" in params:
            cut = params["slice"]
            if not (
                isinstance(cut, list)
                and 1 <= len(cut) <= 2
                and all(isinstance(n, int) and not isinstance(n, bool) for n in cut)
            ):
                raise fail(f"{key}.slice", "[start, end] character positions, e.g. [0, 1]")
        if "unit" in params:
            try:
                convert.kg_per(str(params["unit"]))
            except ConversionError as exc:
                raise fail(f"{key}.unit", exc.message) from None
        if conversion == "money":
            self._check_money(params, key)
        if conversion == "datetime":
            self._check_time(params, key)

    def _check_money(self, params: dict[str, Any], key: str) -> None:
        fail = self.check.fail
        in_value = bool(params.get("currency_in_value")) or "symbols" in params
        given = [p for p in ("currency", "currency_path") if p in params]
        if in_value:
            given.append("currency_in_value")
        if len(given) != 1:
            raise fail(
                key,
                'say where the currency is: currency = "EUR", currency_path = a path, or '
                'currency_in_value = true (in the amount: "45.00 EUR", "$18.50" with '
                "symbols)" + (f"; not {' and '.join(given)}" if given else ""),
            )
        if in_value and params.get("minor_units"):
            raise fail(f"{key}.minor_units", "amounts in minor units carry no currency mark")
        if "currency" in params and not _is_currency(params["currency"]):
            raise fail(f"{key}.currency", f"{params['currency']!r} is not an ISO 4217 code")
        symbols = params.get("symbols", {})
        if not isinstance(symbols, dict):
            raise fail(f"{key}.symbols", 'a table symbol = currency: { "$" = "USD" }')
        for symbol, currency in clean(symbols).items():
            if not isinstance(currency, str) or not _is_currency(currency):
                raise fail(f"{key}.symbols.{symbol}", f"{currency!r} is not an ISO 4217 code")
            named = convert.symbol_currency(symbol)
            if named is not None and named != currency:
                raise fail(f"{key}.symbols.{symbol}", f"{symbol!r} always means {named}")

    def _check_time(self, params: dict[str, Any], key: str) -> None:
        fail = self.check.fail
        if "zone" in params:
            try:
                convert.zone(str(params["zone"]))
            except ConversionError:
                raise fail(f"{key}.zone", f"unknown time zone {params['zone']!r}") from None
        layout = params.get("layout")
        if layout is None:
            return
        sample = datetime(2001, 2, 3, 4, 5, 6)
        try:
            if not isinstance(layout, str) or "%" not in layout:
                raise ValueError
            read_back = datetime.strptime(sample.strftime(layout), layout)
        except ValueError:
            raise fail(
                f"{key}.layout", f'{layout!r} is not a strptime layout (e.g. "%m/%d/%Y %H:%M")'
            ) from None
        if read_back.date() != sample.date():
            raise fail(f"{key}.layout", f"{layout!r} does not give the year, month and day")
        if "%z" not in layout and not ({"zone", "zone_path"} & set(params)):
            raise fail(
                f"{key}.layout",
                f"{layout!r} has no offset (%z): say where the times are, zone = an IANA "
                "name or zone_path = a path",
            )

    def _check_pairs(self, summed: Steps, times: Steps, key: str) -> None:
        """A sum with ``times`` adds value x quantity entry by entry: both paths must name
        a value of the same entries (``items/*/price`` and ``items/*/qty``), or the engine
        would have to guess which quantity goes with which value."""
        if pair_prefix(summed, times) is None:
            raise self.check.fail(
                f"{key}.times",
                f"{times.text!r} is not read in each entry that {summed.text!r} adds: a sum "
                "multiplies value by quantity entry by entry, so give the quantity's path "
                'through the same entries (e.g. sum = "lines/*/price", times = '
                '"lines/*/qty")',
            )

    def _constant(self, converter: Converter | None, value: Any, key: str, inputs: int) -> Any:
        """A constant is converted once at load time, so a bad one is a load error."""
        if converter is None:
            return convert.text(value)
        if inputs:
            raise self.check.fail(f"{key}.const", "a constant cannot read document parameters")
        try:
            return converter(convert.text(value) if isinstance(value, str) else value)
        except ConversionError as exc:
            raise self.check.fail(f"{key}.const", exc.message) from None


def _is_currency(code: str) -> bool:
    return isinstance(code, str) and pycountry.currencies.get(alpha_3=code) is not None


def pair_prefix(summed: Steps, times: Steps) -> tuple[str, ...] | None:
    """The entry path a sum and its ``times`` share (``lines/*``, ``ContentPiece``), or
    None when they do not go through the same entries."""
    if summed.general is not None or times.general is not None:
        return None
    if (summed.up, summed.absolute) != (times.up, times.absolute):
        return None
    if summed.attr is not None or times.attr is not None:
        entry_len = min(len(summed.names), len(times.names))
    else:
        entry_len = min(len(summed.names), len(times.names)) - 1
    if "*" in summed.names:  # JSON: through the last fan-out at least
        entry_len = max(entry_len, len(summed.names) - summed.names[::-1].index("*"))
    if entry_len < 1 or summed.names[:entry_len] != times.names[:entry_len]:
        return None
    prefix = summed.names[:entry_len]
    if "*" in summed.names[entry_len:] or "*" in times.names[entry_len:]:
        return None
    return prefix


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


__all__ = ["Field", "MappingError", "Plan", "Table", "build", "pair_prefix"]
