"""``aedgw translate --operator X FILE``: the canonical JSON and errors, no database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adapters.mapping import MappingError
from adapters.registry import RegistryError, default_registry
from gateway import onboarding
from gateway.cli.output import emit_json
from gateway.document import DocumentRefused, parse
from gateway.ingest.receive import dry_run

CONTENT_TYPES = {
    ".xml": "application/xml",
    ".json": "application/json",
    ".ndjson": "application/x-ndjson",
}


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "translate", help="translate a file as an operator's message would be (no database)"
    )
    cmd.add_argument("--operator", required=True)
    cmd.add_argument("file", type=Path)
    cmd.add_argument("--content-type", help="default: from the file extension")
    cmd.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="an HTTP header the operator would send, e.g. X-Message-Ref:ABC (repeatable)",
    )
    cmd.add_argument("--allow-bilateral", action="store_true")
    cmd.add_argument(
        "--verbose", "-v", action="store_true", help="every error of every item, on stderr"
    )
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        registry = default_registry()
        formats = onboarding.formats_of(registry, args.operator)
    except (MappingError, RegistryError, onboarding.UnknownOperator) as exc:
        return _fail(str(exc))
    content_type = args.content_type or CONTENT_TYPES.get(args.file.suffix.lower())
    if content_type is None:
        return _fail(f"{args.file}: give --content-type (the file is not .xml, .json or .ndjson)")
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        return _fail(f"{args.file}: {exc.strerror or exc}")
    pairs = [h.split(":", 1) for h in args.header]
    if any(len(pair) != 2 for pair in pairs):
        return _fail("--header takes NAME:VALUE, e.g. X-Message-Ref:ABC")
    headers = {k.strip(): v.strip() for k, v in pairs}
    result = dry_run(
        raw,
        content_type,
        registry.candidates(formats),
        operator=args.operator,
        headers=headers,
        allow_bilateral=args.allow_bilateral,
    )
    emit_json(result)
    used = (result.get("translation") or {}).get("source_format")
    if used:  # onboarding: which mapping produced this, to look up a path or code list
        adapter = registry.get(*used.rsplit("/", 1))
        print(f"translated as {used} by {registry.source_of(adapter)}", file=sys.stderr)
    if args.verbose and used:
        try:
            doc = parse(raw, content_type, headers)
        except DocumentRefused:  # not when it translated; kept for safety's sake
            doc = None
        for error in onboarding.every_error(result, doc, registry):
            print(onboarding.error_line(error), file=sys.stderr)
    return 0 if "translation" in result else 1


def _fail(message: str) -> int:
    print(f"aedgw: {message}", file=sys.stderr)
    return 2
