"""``aedgw adapters new|test|expect|lint|list``: adding an operator format, no database.

Every command works on a checkout: the current directory, or ``--root DIR`` (a rehearsal
in a temporary folder sees the installed adapters plus the ones under DIR/adapters).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from adapters.mapping import MappingError
from adapters.registry import RegistryError
from gateway import onboarding, scaffold
from gateway.cli.output import emit
from gateway.document import DocumentRefused, Kind


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("adapters", help="scaffold, test and lint operator adapters")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root", type=Path, default=Path(), help="the checkout (default: current directory)"
    )

    new = sub.add_parser("new", parents=[root], help="scaffold a mapping, schema, fixtures, test")
    new.add_argument("name", help="the operator code, e.g. zeta")
    new.add_argument("--format", required=True, choices=[k.value for k in Kind], dest="kind")
    new.add_argument("--sample", type=Path, help="the operator's sample file: the first fixture")
    new.set_defaults(run=_readable(run_new))

    test = sub.add_parser("test", parents=[root], help="run fixtures against expected output")
    test.add_argument("name", nargs="?", help="one operator (default: all)")
    test.add_argument("--verbose", "-v", action="store_true", help="every run's errors too")
    test.set_defaults(run=_readable(run_test))

    expect = sub.add_parser(
        "expect", parents=[root], help="draft <case>.expected.json from the current translation"
    )
    expect.add_argument("name")
    expect.add_argument("case", help="the case name: fixtures/NAME/CASE.(xml|json|ndjson)")
    expect.add_argument("--force", action="store_true", help="replace an existing one")
    expect.set_defaults(run=_readable(run_expect))

    lint = sub.add_parser("lint", parents=[root], help="mapped paths that never match a sample")
    lint.add_argument("name")
    lint.add_argument("sample", type=Path)
    lint.set_defaults(run=_readable(run_lint))

    lst = sub.add_parser("list", parents=[root], help="every adapter: format, version, source")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=_readable(run_list))


def run_new(args: argparse.Namespace) -> int:
    try:
        plan = scaffold.plan(args.root, args.name, Kind(args.kind), args.sample)
        written = scaffold.write(plan)
    except (scaffold.ScaffoldError, OSError) as exc:
        return _fail(str(exc))
    except DocumentRefused as exc:
        return _fail(f"{args.sample}: {exc.message}")
    for path in written:
        print(path)
    print(
        f"next: fill in {plan.mapping} (each TODO), then "
        f"aedgw adapters lint {args.name} SAMPLE and aedgw adapters test {args.name}",
        file=sys.stderr,
    )
    return 0


def run_test(args: argparse.Namespace) -> int:
    try:
        cases = onboarding.cases(args.root / "fixtures", args.name)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    registry = onboarding.registry_for(args.root)
    if not cases:
        hint = ""
        if args.name is not None:
            try:
                onboarding.formats_of(registry, args.name)
            except onboarding.UnknownOperator as exc:
                hint = f" ({exc})"
        if not (args.root / "fixtures").is_dir():
            hint = " (not a checkout: run it from one, or give --root DIR)"
        return _fail(f"no fixtures in {args.root / 'fixtures' / (args.name or '*')}{hint}")
    missing = onboarding.missing_schemas(registry)
    if missing:
        return _fail("\n  ".join(["schemas not found:", *missing]))
    failed = 0
    for case in cases:
        outcome = onboarding.check_case(case, registry)
        failed += not outcome.passed
        print("\n".join(outcome.lines(verbose=args.verbose)))
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def run_expect(args: argparse.Namespace) -> int:
    folder = args.root / "fixtures" / args.name
    sources = [folder / f"{args.case}.{k}" for k in Kind if (folder / f"{args.case}.{k}").exists()]
    if len(sources) != 1:
        return _fail(f"no single {folder / args.case}.(xml|json|ndjson)")
    target = folder / f"{args.case}.expected.json"
    if target.exists() and not args.force:
        return _fail(f"{target} exists: --force replaces it (a hand-checked file is lost)")
    registry = onboarding.registry_for(args.root)
    print(scaffold.write_expected(registry, args.name, sources[0]))
    print("generated: check every value by hand against the operator's spec", file=sys.stderr)
    return 0


def run_lint(args: argparse.Namespace) -> int:
    try:
        content_type = scaffold.CONTENT_TYPES[Kind(args.sample.suffix.lower().lstrip("."))]
    except ValueError:
        return _fail(f"{args.sample}: name it .xml, .json or .ndjson")
    try:
        raw = args.sample.read_bytes()
    except OSError as exc:
        return _fail(f"{args.sample}: {exc.strerror or exc}")
    registry = onboarding.registry_for(args.root)
    try:
        linted = onboarding.lint(registry, args.name, raw, content_type)
    except (onboarding.NothingToLint, onboarding.UnknownOperator) as exc:
        return _fail(str(exc))
    except DocumentRefused as exc:
        return _fail(f"{args.sample}: {exc.message}")
    for finding in linted.findings:
        print(finding)
    if linted.unchecked:
        print(f"aedgw: {linted.unchecked}", file=sys.stderr)
    elif not linted.findings:
        print(f"{linted.source}: every mapped path matches in {args.sample}", file=sys.stderr)
    return 1 if linted.findings else 0


def run_list(args: argparse.Namespace) -> int:
    rows = onboarding.adapter_rows(onboarding.registry_for(args.root))
    emit(rows, ["format", "version", "operator", "kind", "schema", "source"], as_json=args.json)
    return 0


def _readable(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A mapping that does not load is the onboarding engineer's daily bread: its message
    (file: key: what is wrong) without a traceback."""

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (MappingError, RegistryError) as exc:
            return _fail(str(exc))

    return guarded


def _fail(message: str) -> int:
    print(f"aedgw: {message}", file=sys.stderr)
    return 2
