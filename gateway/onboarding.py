"""Checking an operator's adapters against its fixtures, for the onboarding engineer.

``aedgw adapters test|lint|list`` print what this module finds. A failing fixture is
explained field by field (``records[0].sender.address.city: expected "London", got
"LONDON"``) next to the errors of the run with their messages, the value at each schema
error's path and the mapping file of the format, so the engineer sees what to change
without reading JSON side by side. Messages are free text: comparisons drop them, as the
suite's fixture tests do.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson

from adapters.mapping import LintFinding, Mapping
from adapters.registry import Registry, default_registry, package_adapters
from gateway.contract import Adapter, MessageRejected
from gateway.document import Document, DocumentRefused, Kind, iter_ndjson, parse
from gateway.ingest.adapt import select_adapter
from gateway.ingest.receive import dry_run
from xsd import schema_path

SOURCE_SUFFIXES = (".xml", ".json", ".ndjson")
MISSING = object()


# --- which adapters: the installed ones, or those of another checkout ----------------------


def is_installed(root: Path) -> bool:
    """Whether ``root`` is the checkout this gateway runs from (its adapters are loaded)."""
    return (root / "adapters").resolve() == Path(str(files("adapters"))).resolve()


def registry_for(root: Path) -> Registry:
    """The adapters as seen from ``root``: the installed ones, with the operator folders of
    ``root/adapters`` in their place when ``root`` is another folder (a rehearsal in a
    temporary folder, a second checkout) and their schemas read from ``root/xsd``."""
    if is_installed(root):
        return default_registry()
    local = list(local_adapters(root))
    taken = {(a.format, a.version) for a, _ in local}
    installed = default_registry()
    kept = [
        (a, installed.source_of(a))
        for a in installed.adapters()
        if (a.format, a.version) not in taken
    ]
    return Registry([*local, *kept])


def local_adapters(root: Path) -> Iterator[tuple[Adapter, str]]:
    """The mappings and Python adapters under ``root/adapters`` (not the installed ones)."""
    folder = root / "adapters"
    if not folder.is_dir():
        return
    for init in sorted(folder.glob("*/__init__.py")):
        _import_operator_package(init)
    for adapter, source in package_adapters(folder):
        if adapter.schema:
            adapter.schema = local_schema(root, adapter.schema)
        yield adapter, source


def local_schema(root: Path, name: str) -> str:
    """The schema file in ``root/xsd`` as an absolute path, which the validators accept in
    place of a name (the installed ``xsd`` folder joined with an absolute path is that
    path); a schema that is not there is left to the installed folder."""
    path = root / "xsd" / name
    return str(path.resolve()) if path.is_file() else name


def _import_operator_package(init: Path) -> None:
    """Make ``adapters.<operator>`` the package in ``init``'s folder, so that the registry's
    import of an operator package finds this checkout's Python adapters."""
    name = f"adapters.{init.parent.name}"
    loaded = sys.modules.get(name)
    if loaded is not None and Path(loaded.__file__ or "").resolve() == init.resolve():
        return
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


class UnknownOperator(Exception):
    """An operator no adapter is written for; the message says which are."""


def formats_of(registry: Registry, operator: str) -> list[str]:
    """The formats written for ``operator``, or UnknownOperator naming the known ones."""
    formats = registry.formats_of(operator)
    if formats:
        return formats
    known = sorted({a.operator for a in registry.adapters()})
    if operator.lower() in known:
        raise UnknownOperator(
            f"operator codes are lower case: {operator.lower()!r}, not {operator!r}"
        )
    raise UnknownOperator(
        f"no adapter is written for operator {operator!r}; known: {', '.join(known)}"
    )


def missing_schemas(registry: Registry) -> list[str]:
    """Adapters whose schema file is nowhere: named before any fixture runs into it."""
    return [
        f"{registry.source_of(a)}: schema {a.schema!r} is not in xsd/"
        for a in registry.adapters()
        if a.schema and not schema_path(a.schema).is_file()
    ]


def adapter_rows(registry: Registry) -> list[dict[str, Any]]:
    """One row per adapter for ``aedgw adapters list``."""
    rows = [
        {
            "operator": a.operator,
            "format": a.format,
            "version": a.version,
            "kind": str(a.kind),
            "schema": a.schema and Path(a.schema).name,
            "source": registry.source_of(a),
        }
        for a in registry.adapters()
    ]
    return sorted(rows, key=lambda r: (r["operator"], r["format"], r["version"]))


def source_of_format(registry: Registry, source_format: str | None) -> str | None:
    """Where the adapter of ``alpha-itmatt/11`` is defined (its mapping file), if known."""
    if not source_format:
        return None
    fmt, _, version = source_format.rpartition("/")
    try:
        return registry.source_of(registry.get(fmt, version))
    except KeyError:
        return None


# --- fixtures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One fixture: a source message and its hand-checked expected output."""

    operator: str
    name: str
    source: Path
    expected: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.operator}/{self.name}"

    @property
    def content_type(self) -> str:
        return self.expected["request"]["content_type"]

    @property
    def headers(self) -> dict[str, str]:
        return self.expected["request"].get("headers") or {}


def cases(fixtures: Path, operator: str | None = None) -> list[Case]:
    """Every ``<case>.expected.json`` of one operator (or all) with its source beside it."""
    found = []
    for expected in sorted(fixtures.glob(f"{operator or '*'}/*.expected.json")):
        stem = expected.name.removesuffix(".expected.json")
        sources = [expected.with_name(stem + s) for s in SOURCE_SUFFIXES]
        source = next((p for p in sources if p.exists()), None)
        if source is None:
            raise FileNotFoundError(f"{expected}: no {stem}.xml, .json or .ndjson beside it")
        found.append(Case(expected.parent.name, stem, source, orjson.loads(expected.read_bytes())))
    return found


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """An expected-format result without free-text messages and request metadata."""
    out: dict[str, Any] = {"http_status": result["http_status"]}
    if "error" in result:
        error = result["error"]
        details = error.get("details")
        out["error"] = {
            "code": error["code"],
            "paths": sorted(d["path"] for d in details) if isinstance(details, list) else None,
        }
    if "translation" in result:
        translation = dict(result["translation"])
        translation["errors"] = [without_message(e) for e in translation["errors"]]
        out["translation"] = translation
    return out


def without_message(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k != "message"}


def translate_case(case: Case, registry: Registry) -> dict[str, Any]:
    """The dry run of a fixture with the operator's formats, in the expected.json form."""
    return dry_run(
        case.source.read_bytes(),
        case.content_type,
        registry.candidates(registry.formats_of(case.operator)),
        operator=case.operator,
        headers=case.headers,
    )


# --- differences ---------------------------------------------------------------------------


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every difference as ``path: expected X, got Y``; records are matched by item id,
    so one record missing does not shift every record after it."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in [*expected, *(k for k in actual if k not in expected)]:
            where = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(f"{where}: expected {show(expected[key])}, got nothing")
            elif key not in expected:
                out.append(f"{where}: expected nothing, got {show(actual[key])}")
            else:
                out.extend(differences(expected[key], actual[key], where))
        return out
    if _records(expected) and _records(actual):
        return _record_differences(expected, actual, path)
    if _dicts(expected) and _dicts(actual):
        out = []
        for i, (want, got) in enumerate(zip(expected, actual, strict=False)):
            out.extend(differences(want, got, f"{path}[{i}]"))
        out.extend(
            f"{path}[{i}]: missing, expected {show(want)}"
            for i, want in enumerate(expected[len(actual) :], len(actual))
        )
        out.extend(
            f"{path}[{i}]: unexpected {show(got)}"
            for i, got in enumerate(actual[len(expected) :], len(expected))
        )
        return out
    return [] if expected == actual else [f"{path}: expected {show(expected)}, got {show(actual)}"]


def _dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _records(value: Any) -> bool:
    if not _dicts(value) or not all("item_id" in v for v in value):
        return False
    ids = [v["item_id"] for v in value]
    return len(set(ids)) == len(ids)


def _record_differences(expected: list[dict], actual: list[dict], path: str) -> list[str]:
    got = {r["item_id"]: r for r in actual}
    wanted = {r["item_id"] for r in expected}
    out = []
    for i, record in enumerate(expected):
        if record["item_id"] in got:
            out.extend(differences(record, got[record["item_id"]], f"{path}[{i}]"))
        else:
            out.append(f"{path}[{i}]: expected a record of {record['item_id']}, got none")
    out.extend(
        f"{path}: got a record of {record['item_id']}, not expected"
        for record in actual
        if record["item_id"] not in wanted
    )
    if not out and [r["item_id"] for r in expected] != [r["item_id"] for r in actual]:
        out.append(f"{path}: the same records in another order")
    return out


def show(value: Any, limit: int = 160) -> str:
    """A value as JSON on one line, shortened when long (a JSON number read as a Decimal
    stays a number)."""
    text = str(value) if isinstance(value, Decimal) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- one fixture's outcome -----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """A fixture's run: passed or not, and what to tell the engineer."""

    case: Case
    diff: list[str]
    notes: list[str]
    """The run's errors with their messages (and where the format is defined)."""

    @property
    def passed(self) -> bool:
        return not self.diff

    def lines(self, *, verbose: bool = False) -> list[str]:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.case.id}"
        out = [head, *(f"  {d}" for d in self.diff)]
        if self.notes and (verbose or not self.passed):
            out.append("  this run:")
            out.extend(f"    {n}" for n in self.notes)
        return out


def every_error(
    result: dict[str, Any], doc: Document | None, registry: Registry
) -> list[dict[str, Any]]:
    """The errors of a dry run, an item a mapping could not read listed with every error
    it has (the receipt names its first) instead of one: what ``-v`` shows."""
    translation = result.get("translation")
    if translation is None:
        return []
    errors = translation["errors"]
    fmt, _, version = translation["source_format"].rpartition("/")
    try:
        adapter = registry.get(fmt, version)
    except KeyError:
        return errors
    if doc is None or not isinstance(adapter, Mapping):
        return errors
    found: dict[int, list[dict[str, Any]]] = {}
    for error in adapter.every_error(doc):
        found.setdefault(error.index, []).append(error.to_dict())
    out = []
    for error in errors:
        out.extend(found.pop(error["index"], None) or [error])
    return out


def error_line(error: dict[str, Any], where: str = "") -> str:
    """One error for people: ``item 1 RB123… at /path: code: message``."""
    return (
        f"item {error['index']} {error['item_id'] or '(no id)'} at {error['path']}: "
        f"{error['code']}: {error['message']}{where}"
    )


def check_case(case: Case, registry: Registry) -> Outcome:
    """Translate one fixture and compare it with its expected output."""
    actual = translate_case(case, registry)
    want, got = comparable(case.expected), comparable(actual)
    if ("translation" in want) == ("translation" in got):
        diff = differences(want, got)
        diff = [d.removeprefix("translation.") for d in diff]
    else:
        diff = [
            f"http_status: expected {want['http_status']}, got {got['http_status']}",
            f"expected {_kind(want)}, got {_kind(got)}",
        ]
    return Outcome(case, diff, describe(actual, case, registry))


def _kind(result: dict[str, Any]) -> str:
    """A result in a few words: the error code, or the translation's counts."""
    if "error" in result:
        paths = result["error"]["paths"]
        return f"error {result['error']['code']}" + (f" at {', '.join(paths)}" if paths else "")
    items = result["translation"]["items"]
    return (
        f"a translation ({result['translation']['status']}: {items['received']} received, "
        f"{items['accepted']} accepted, {items['rejected']} rejected)"
    )


def describe(result: dict[str, Any], case: Case, registry: Registry) -> list[str]:
    """The errors of a result for people: every message, path and offending value."""
    if "error" in result:
        error = result["error"]
        out = [f"{result['http_status']} {error['code']}: {error['message']}"]
        details = error.get("details")
        if isinstance(details, list):
            doc = _parsed(case)
            out.extend(_detail(d, doc) for d in details)
        return out
    translation = result["translation"]
    source = source_of_format(registry, translation["source_format"])
    where = f" [{source}]" if source else ""
    return [
        error_line(e, where if e["code"] in ("code_unknown", "value_invalid") else "")
        for e in every_error(result, _parsed(case), registry)
    ]


def _detail(detail: dict[str, Any], doc: Document | None) -> str:
    path = detail.get("path")
    value = value_at(doc, path) if doc is not None and path else MISSING
    shown = f" = {show(value, 60)}" if value is not MISSING else ""
    line = f" (line {detail['line']})" if detail.get("line") else ""
    return f"  at {path}{shown}{line}: {detail.get('message', '')}"


def _parsed(case: Case) -> Document | None:
    try:
        return parse(case.source.read_bytes(), case.content_type, case.headers)
    except DocumentRefused:
        return None


# --- the value a path names ----------------------------------------------------------------


def value_at(doc: Document, path: str) -> Any:
    """The scalar at an error path (``/Items/Item[2]/Gift``, ``/parcels/1/weightG``,
    ``line 3 /gross_weight_kg``), or MISSING when it names no scalar."""
    if doc.kind is Kind.XML:
        return _xml_value(doc.root, path)
    if doc.kind is Kind.JSON:
        return _json_value(doc.root, path)
    number, _, pointer = path.removeprefix("line ").partition(" ")
    for line_no, value in iter_ndjson(doc):
        if str(line_no) == number:
            return _json_value(value, pointer)
    return MISSING


def _xml_value(root: Any, path: str) -> Any:
    steps = path.strip("/").split("/")
    if not steps or _local(root.tag) != steps[0]:
        return MISSING
    node = root
    for step in steps[1:]:
        if step.startswith("@"):
            found = [v for k, v in node.attrib.items() if _local(k) == step[1:]]
            return found[0] if found else MISSING
        name, _, index = step.partition("[")
        same = [c for c in node if isinstance(c.tag, str) and _local(c.tag) == name]
        position = int(index.rstrip("]")) if index else 1
        if len(same) < position:
            return MISSING
        node = same[position - 1]
    return node.text if len(node) == 0 else MISSING


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _json_value(value: Any, pointer: str) -> Any:
    for raw in pointer.split("/")[1:] if pointer else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return MISSING
    return MISSING if isinstance(value, dict | list) else value


# --- lint ----------------------------------------------------------------------------------


class NothingToLint(Exception):
    """The sample is in none of the operator's formats."""


@dataclass(frozen=True)
class Linted:
    """What lint checked: the format's source, the findings, and what it could not check
    (the Python code of an adapter; empty for a mapping file)."""

    source: str
    findings: list[LintFinding]
    unchecked: str = ""


def lint(registry: Registry, operator: str, raw: bytes, content_type: str) -> Linted:
    """The mapped paths of the operator's format that never match in a sample. A Python
    adapter is linted through the mapping it exposes as ``mapping`` (its paths read the
    document as sent); its own code is named as not checked."""
    doc = parse(raw, content_type, {})
    try:
        adapter = select_adapter(doc, registry.candidates(formats_of(registry, operator)))
    except MessageRejected as exc:
        raise NothingToLint(exc.message) from None
    source = registry.source_of(adapter)
    if isinstance(adapter, Mapping):
        return Linted(source, adapter.lint(doc))
    inner = getattr(adapter, "mapping", None)
    if isinstance(inner, Mapping):
        note = (
            f"{source} is Python code around {inner.file}: its mapped paths are checked "
            "against the sample as sent; what the code itself does is not (its fixtures are)"
        )
        return Linted(source, inner.lint(doc), note)
    note = (
        f"{source} is Python code with no mapping: lint checks mapped paths only, so "
        f"nothing here; aedgw adapters test {operator} runs its fixtures"
    )
    return Linted(source, [], note)
