"""``aedgw operators add|list|disable``: who may send, in which formats."""

from __future__ import annotations

import argparse
import secrets
import sys

import asyncpg

from adapters.registry import default_registry
from gateway import operators
from gateway.cli import database, scorecard
from gateway.cli.arguments import operator_code
from gateway.cli.output import emit
from gateway.operators import OperatorExists, Profile


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("operators", help="manage operator profiles")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="register an operator")
    add.add_argument("code", type=operator_code, help="short lower-case code, e.g. alpha")
    add.add_argument("--name", help="display name (default: the code)")
    add.add_argument(
        "--format",
        action="append",
        dest="formats",
        help="a format id it may send (repeatable; default: the formats written for it)",
    )
    add.add_argument("--allow-bilateral", action="store_true", help="accept non-S10 item ids")
    add.add_argument(
        "--all-or-nothing", action="store_true", help="reject a whole message for any bad item"
    )
    add.add_argument("--callback-url", help="where its customs decisions are pushed")
    add.add_argument(
        "--callback-secret",
        help="HMAC secret for signing pushed decisions (generated and shown once if omitted)",
    )
    add.set_defaults(run=run_add)
    lst = sub.add_parser("list", help="list operators")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=run_list)
    dis = sub.add_parser("disable", help="refuse an operator's keys from now on")
    dis.add_argument("code", type=operator_code)
    dis.set_defaults(run=run_disable)
    scorecard.register_operator_actions(sub)


def run_add(args: argparse.Namespace) -> int:
    registry = default_registry()
    formats = args.formats or registry.formats_of(args.code)
    unknown = sorted(set(formats) - set(registry.formats()))
    if unknown or not formats:
        known = ", ".join(sorted(registry.formats()))
        what = f"unknown format(s) {', '.join(unknown)}" if unknown else "no formats"
        print(f"aedgw: {what}; give --format (known: {known})", file=sys.stderr)
        return 2
    secret = args.callback_secret
    if args.callback_url and not secret:
        secret = secrets.token_urlsafe(32)
        print(f"callback secret (shown once): {secret}", file=sys.stderr)
    profile = Profile(
        code=args.code,
        name=args.name or args.code,
        formats=tuple(formats),
        allow_bilateral=args.allow_bilateral,
        all_or_nothing=args.all_or_nothing,
        callback_url=args.callback_url,
        callback_secret=secret,
    )

    async def action(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await operators.add(conn, profile)

    try:
        database.run(args, action)
    except OperatorExists:
        print(f"aedgw: operator {args.code!r} exists already", file=sys.stderr)
        return 1
    print(f"operator {args.code} added with formats {', '.join(formats)}", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    async def action(pool: asyncpg.Pool) -> list[asyncpg.Record]:
        async with pool.acquire() as conn:
            return await operators.list_all(conn)

    rows = database.run(args, action)
    columns = [
        "code",
        "name",
        "formats",
        "allow_bilateral",
        "all_or_nothing",
        "callback_url",
        "live_keys",
        "disabled_at",
    ]
    emit(rows, columns, as_json=args.json)
    return 0


def run_disable(args: argparse.Namespace) -> int:
    async def action(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await operators.require(conn, args.code)
            await operators.disable(conn, args.code)

    database.run(args, action)
    print(f"operator {args.code} disabled", file=sys.stderr)
    return 0
