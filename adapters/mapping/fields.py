"""Fields: where a canonical value comes from (its source) and how it is converted.

Each field is compiled once into a reader for its source (``path``, ``first``, ``join``,
``sum``, ``const``) and a conversion (:mod:`.conversions`), so that reading an item is a
loop of two calls per field with no decisions left to take.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters import convert
from adapters.convert import ConversionError, Raw
from adapters.mapping import conversions
from adapters.mapping.conversions import Convert, Patterns
from adapters.mapping.load import MappingError, clean
from adapters.mapping.paths import Context, Path, Unreadable
from adapters.mapping.vocabulary import (
    LINES,
    NUMERIC,
    PARAMS,
    PATH_PARAMS,
    SOURCES,
    FieldType,
    conversions_for,
)

_NOWHERE = Context(None, None, "", "")


class Scope:
    """One item being read: its field paths, errors and (when linting) the paths that
    matched, and where it is: the table entry's context, the prefix of its canonical
    names ("contents[2].") and the values read there so far."""

    __slots__ = ("ctx", "errors", "hits", "paths", "prefix", "values")

    def __init__(self, hits: set[tuple[str, str]] | None) -> None:
        self.ctx = _NOWHERE
        self.prefix = ""
        self.values: dict[str, Any] = {}
        self.paths: dict[str, str] = {}
        self.errors: list[tuple[str, ConversionError]] = []
        self.hits = hits

    def hit(self, path: Path) -> None:
        if self.hits is not None:
            self.hits.add((path.key, path.text))

    def values_of(self, paths: tuple[Path, ...]) -> list[tuple[Raw, str]]:
        """Every present value the paths select, in order, with its source path."""
        out: list[tuple[Raw, str]] = []
        for path in paths:
            found = path.values(self.ctx)
            if found:
                self.hit(path)
                out.extend(found)
        return out


Read = Callable[[Scope], tuple[Any, str]]


class Field(NamedTuple):
    """One canonical field. Its source is ``path`` (one path, the commonest case, read by
    the table inline) or ``read``, which gives the raw value (None when absent) and the
    path of the value or of where it belongs. ``convert`` None means plain text."""

    name: str
    conversion: str
    path: Path | None
    read: Read | None
    convert: Convert | None


class FieldCompiler:
    """Checks a field's table and compiles it; ``path`` compiles (and lints) a path."""

    def __init__(
        self,
        path: Callable[[Any, str], Path],
        fail: Callable[[str, str], MappingError],
        codes: dict[str, dict[str, str]],
        patterns: Patterns,
    ) -> None:
        self.path = path
        self.fail = fail
        self.codes = codes
        self.patterns = patterns

    def field(self, name: str, spec: Any, kind: FieldType, key: str) -> Field:
        if isinstance(spec, str) or (kind == LINES and isinstance(spec, list)):
            spec = {"path": spec}
        if not isinstance(spec, dict):
            raise self.fail(key, "a field is a path, or a table such as { path = ... }")
        spec = clean(spec)
        sources = [s for s in SOURCES if s in spec]
        if len(sources) != 1:
            raise self.fail(key, f"give exactly one of {', '.join(SOURCES)}")
        source = sources[0]
        conversion = self._conversion(spec, kind, key)
        allowed = {*SOURCES, "sep", "convert", *PARAMS[conversion]}
        for param in spec:
            if param not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(f"{key}.{param}", f"not a parameter of {conversion!r}: {known}")
        if source == "sum" and conversion not in NUMERIC:
            raise self.fail(f"{key}.sum", "sum adds numbers: use it on decimal, weight or money")
        if kind == LINES and source != "path":
            raise self.fail(key, "address lines take path = a path or a list of paths")
        texts = [] if source == "const" else spec[source]
        texts = [texts] if isinstance(texts, str) else texts
        if source in ("first", "join") and (not isinstance(texts, list) or len(texts) < 2):
            raise self.fail(f"{key}.{source}", "give a list of at least two paths")
        params = {
            p: self.path(v, f"{key}.{p}") if p in PATH_PARAMS else v
            for p, v in spec.items()
            if p in PARAMS[conversion]
        }
        paths = tuple(self.path(t, key) for t in texts)
        table = self._code_table(params, kind, key)
        self._check_params(params, key)
        converter = conversions.make(
            conversion, name, params, table, self.patterns, summed=source == "sum"
        )
        if source == "const" and converter is not None:
            self._check_constant(converter, spec["const"], key)
        if source == "path" and kind != LINES:
            return Field(name, conversion, paths[0], None, converter)
        return Field(
            name, conversion, None, _reader(source, spec, params, paths, kind, name), converter
        )

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
            raise self.fail(
                f"{key}.convert",
                f"{conversion!r} is not a conversion for this field; use {', '.join(allowed)}",
            )
        if conversion == "code" and isinstance(kind, str) and "codes" not in spec:
            raise self.fail(f"{key}.codes", "name the code list ([codes.NAME]) to use")
        if conversion == "match" and "patterns" not in spec:
            raise self.fail(f"{key}.patterns", "name the pattern list ([patterns.NAME]) to use")
        return conversion

    def _code_table(self, params: dict[str, Any], kind: FieldType, key: str) -> dict | None:
        """The code list a field uses, its values turned into the field's enum members."""
        name = params.get("codes")
        if name is None:
            return None if isinstance(kind, str) else {m.value: m for m in kind}
        if name not in self.codes:
            raise self.fail(f"{key}.codes", f"no code list [codes.{name}] in the mapping")
        if isinstance(kind, str):
            return self.codes[name]
        allowed = {m.value: m for m in kind}
        table = {}
        for code_value, canonical in self.codes[name].items():
            if canonical not in allowed:
                raise self.fail(
                    f"codes.{name}.{code_value}",
                    f"{canonical!r} is not a canonical {key.rpartition('.')[2]}: "
                    f"{', '.join(allowed)}",
                )
            table[code_value] = allowed[canonical]
        return table

    def _check_params(self, params: dict[str, Any], key: str) -> None:
        patterns = params.get("patterns")
        if patterns is not None and patterns not in self.patterns:
            raise self.fail(f"{key}.patterns", f"no pattern list [patterns.{patterns}]")
        for fixed, path in (("unit", "unit_path"), ("currency", "currency_path")):
            if fixed in params and path in params:
                raise self.fail(f"{key}.{fixed}", f"give {fixed} or {path}, not both")
        if "unit" in params:
            try:
                convert.weight_kg(1, params["unit"])
            except ConversionError as exc:
                raise self.fail(f"{key}.unit", exc.message) from None
        if "zone" in params:
            try:
                ZoneInfo(params["zone"])
            except (ZoneInfoNotFoundError, ValueError):
                raise self.fail(f"{key}.zone", f"unknown time zone {params['zone']!r}") from None

    def _check_constant(self, converter: Convert, value: Any, key: str) -> None:
        """A constant is converted once at load time, so a bad one is a load error."""
        try:
            converter(value, "", Scope(None))
        except ConversionError as exc:
            raise self.fail(f"{key}.const", exc.message) from None


# --- readers, one per source ----------------------------------------------------------------


def _reader(
    source: str,
    spec: dict[str, Any],
    params: dict[str, Any],
    paths: tuple[Path, ...],
    kind: FieldType,
    name: str,
) -> Read:
    if source == "const":
        value = spec["const"]
        return lambda scope: (value, "")
    if kind == LINES:
        return _lines(paths, name)
    if source == "first":
        return _first(paths)
    if source == "join":
        return _join(paths, spec.get("sep", " "))
    return _sum(paths, params.get("decimal_comma", False))


def _first(paths: tuple[Path, ...]) -> Read:
    def read(scope: Scope) -> tuple[Any, str]:
        for path in paths:
            raw, where = path.first(scope.ctx)
            if raw is not None:
                scope.hit(path)
                return raw, where
        return None, paths[0].nearest(scope.ctx)

    return read


def _join(paths: tuple[Path, ...], sep: str) -> Read:
    def read(scope: Scope) -> tuple[Any, str]:
        parts = scope.values_of(paths)
        if not parts:
            return None, paths[0].nearest(scope.ctx)
        return sep.join(convert.text(p) or "" for p, _ in parts), parts[0][1]

    return read


def _sum(paths: tuple[Path, ...], comma: bool) -> Read:
    def read(scope: Scope) -> tuple[Any, str]:
        parts = scope.values_of(paths)
        if not parts:
            return None, paths[0].nearest(scope.ctx)
        total = Decimal(0)
        for raw, where in parts:
            try:
                total += convert.decimal(raw, comma=comma) or 0
            except ConversionError as exc:
                raise Unreadable(exc, where) from None
        return total, paths[0].sum_path(scope.ctx)

    return read


def _lines(paths: tuple[Path, ...], name: str) -> Read:
    """Address lines: every value of every path, each recorded as ``name[i]``."""

    def read(scope: Scope) -> tuple[Any, str]:
        parts = scope.values_of(paths)
        if not parts:
            return [], paths[0].nearest(scope.ctx)
        for i, (_, where) in enumerate(parts, start=1):
            scope.paths[f"{scope.prefix}{name}[{i}]"] = where
        return [convert.text(p) for p, _ in parts], parts[0][1]

    return read
