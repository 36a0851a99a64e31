"""``aedgw translate --operator X FILE``: the canonical JSON and errors, no database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adapters.registry import default_registry
from gateway.cli.output import emit_json
from gateway.ingest.adapt import dry_run

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
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    registry = default_registry()
    formats = registry.formats_of(args.operator)
    if not formats:
        print(f"aedgw: no adapter is written for operator {args.operator!r}", file=sys.stderr)
        return 2
    content_type = args.content_type or CONTENT_TYPES.get(args.file.suffix.lower())
    if content_type is None:
        print("aedgw: give --content-type for this file", file=sys.stderr)
        return 2
    headers = dict(h.split(":", 1) for h in args.header)
    result = dry_run(
        args.file.read_bytes(),
        content_type,
        registry.candidates(formats),
        operator=args.operator,
        headers={k.strip(): v.strip() for k, v in headers.items()},
        allow_bilateral=args.allow_bilateral,
    )
    emit_json(result)
    used = (result.get("translation") or {}).get("source_format")
    if used:  # onboarding: which mapping produced this, to look up a path or code list
        adapter = registry.get(*used.split("/"))
        print(f"translated as {used} by {registry.source_of(adapter)}", file=sys.stderr)
    return 0 if "translation" in result else 1
