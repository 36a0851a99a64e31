"""``aedgw operators add|set|list|disable``: who may send, in which formats, under which
limits and client certificates; every change is in the audit trail."""

from __future__ import annotations

import argparse
import math
import secrets
import sys
from dataclasses import replace

import asyncpg

from adapters.registry import default_registry
from gateway import audit, operators
from gateway.cli import database, scorecard
from gateway.cli.arguments import operator_code
from gateway.cli.output import emit
from gateway.operators import (
    OperatorExists,
    OperatorUnknown,
    PolicyInvalid,
    Profile,
    normalise_fingerprint,
)

LIST_COLUMNS = [
    "code",
    "name",
    "formats",
    "allow_bilateral",
    "all_or_nothing",
    "callback_url",
    "live_keys",
    "rate_per_s",
    "concurrency",
    "require_client_cert",
    "disabled_at",
]
"""The table; ``--json`` adds the certificate fingerprints."""


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
    put = sub.add_parser(
        "set", help="change an operator's limits and client certificates (no restart)"
    )
    put.add_argument("code")
    put.add_argument(
        "--rate", type=_limit(float), help="requests per second for the whole gateway, or 'default'"
    )
    put.add_argument(
        "--concurrency",
        type=_limit(int),
        help="requests in flight for the whole gateway, or 'default'",
    )
    put.add_argument(
        "--cert-fingerprint",
        action="append",
        dest="fingerprints",
        type=_fingerprint,
        help="SHA-256 of a client certificate it may present (repeatable: the new list; "
        "give the old and the new one while rotating)",
    )
    put.add_argument(
        "--no-cert-fingerprints", action="store_true", help="forget every certificate"
    )
    require = put.add_mutually_exclusive_group()
    require.add_argument(
        "--require-client-cert",
        action="store_const",
        const=True,
        dest="require",
        help="refuse its requests without one of its certificates (the key is still needed)",
    )
    require.add_argument(
        "--no-require-client-cert", action="store_const", const=False, dest="require"
    )
    put.set_defaults(run=run_set)


_DEFAULT = object()
"""``--rate default``: back to the gateway-wide default."""


def _limit(kind: type) -> object:
    def parse(text: str) -> object:
        if text == "default":
            return _DEFAULT
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive number or 'default'")
        return value

    return parse


def _fingerprint(text: str) -> str:
    try:
        return normalise_fingerprint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
            await operators.add(conn, profile, audit.cli_actor())

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
    columns = [*LIST_COLUMNS, "cert_fingerprints"] if args.json else LIST_COLUMNS
    emit(rows, columns, as_json=args.json)
    return 0


def run_disable(args: argparse.Namespace) -> int:
    async def action(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await operators.require(conn, args.code)
            await operators.disable(conn, args.code, audit.cli_actor())

    database.run(args, action)
    print(f"operator {args.code} disabled", file=sys.stderr)
    return 0


def run_set(args: argparse.Namespace) -> int:
    changes: dict[str, object] = {}
    if args.rate is not None:
        changes["rate_per_s"] = None if args.rate is _DEFAULT else args.rate
    if args.concurrency is not None:
        changes["concurrency"] = None if args.concurrency is _DEFAULT else args.concurrency
    if args.fingerprints and args.no_cert_fingerprints:
        print("aedgw: give --cert-fingerprint or --no-cert-fingerprints, not both", file=sys.stderr)
        return 2
    if args.fingerprints or args.no_cert_fingerprints:
        changes["cert_fingerprints"] = frozenset(args.fingerprints or ())
    if args.require is not None:
        changes["require_client_cert"] = args.require
    if not changes:
        print("aedgw: nothing to change; see aedgw operators set --help", file=sys.stderr)
        return 2

    async def action(pool: asyncpg.Pool) -> Profile:
        async with pool.acquire() as conn:
            return await operators.set_policy(
                conn, args.code, lambda p: replace(p, **changes), audit.cli_actor()
            )

    try:
        profile = database.run(args, action)
    except OperatorUnknown:
        print(f"aedgw: no operator {args.code!r}", file=sys.stderr)
        return 1
    except PolicyInvalid as exc:
        print(f"aedgw: {exc}", file=sys.stderr)
        return 2
    rate = f"{profile.rate_per_s:g}/s" if profile.rate_per_s else "default"
    concurrency = profile.concurrency or "default"
    print(
        f"operator {args.code}: rate {rate}, concurrency {concurrency}, "
        f"{len(profile.cert_fingerprints)} certificate(s), "
        f"client certificate {'required' if profile.require_client_cert else 'optional'}",
        file=sys.stderr,
    )
    return 0
