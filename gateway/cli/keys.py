"""``aedgw keys issue|rotate|revoke|list``: a new key alone on stdout, details on stderr;
every change is in the audit trail under the person at the terminal."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta

import asyncpg

from gateway import audit, keys, operators
from gateway.cli import database
from gateway.cli.arguments import hours, operator_code
from gateway.cli.output import emit
from gateway.keys import KeyNotFound, Scope

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_LONGEST = timedelta(days=3650)
LIST_COLUMNS = (
    "key_id", "scope", "subject", "created_at", "expires_at", "revoked_at", "last_used_at"
)


def duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` or ``45s`` as a timedelta (argparse type)."""
    match = _DURATION.match(text)
    if not match or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 90d, 12h, 30m or 2w"
        )
    seconds = float(match[1]) * _UNIT_S[match[2]]
    if seconds > _LONGEST.total_seconds():
        raise argparse.ArgumentTypeError("at most 3650d; leave --expires-in out for no expiry")
    return timedelta(seconds=seconds)


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("keys", help="issue, rotate and revoke API keys")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    issue = sub.add_parser("issue", help="issue a key (printed once, stored hashed)")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--operator", type=operator_code, help="an operator code (submits messages, reads outcomes)"
    )
    who.add_argument("--targeting", help="a targeting system's name (reads the feed)")
    who.add_argument("--admin", help="an administrator's name")
    who.add_argument(
        "--monitoring", help="a monitoring system's name (reads /metrics when metrics_auth is on)"
    )
    issue.add_argument(
        "--expires-in",
        type=duration,
        help="the key stops working after this long: 90d, 12h, 2w … (default: never)",
    )
    issue.set_defaults(run=run_issue)
    rotate = sub.add_parser("rotate", help="a new key; the old one works for --overlap hours")
    rotate.add_argument("key_id")
    rotate.add_argument(
        "--overlap", type=hours, default=24.0, help="hours the old key keeps working (default 24)"
    )
    rotate.set_defaults(run=run_rotate)
    revoke = sub.add_parser("revoke", help="refuse a key at once, in every process")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=run_revoke)
    lst = sub.add_parser("list", help="every key: holder, expiry, revocation, last use")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=run_list)


def run_issue(args: argparse.Namespace) -> int:
    scope = next(s for s in Scope if getattr(args, s.value))
    subject = getattr(args, scope.value)

    async def action(pool: asyncpg.Pool) -> tuple[str, str]:
        async with pool.acquire() as conn:
            if scope is Scope.OPERATOR:
                await operators.require(conn, subject)
            return await keys.issue(conn, scope, subject, audit.cli_actor(), args.expires_in)

    key_id, key = database.run(args, action)
    print(key)
    until = ""
    if args.expires_in:
        until = f", valid until {(datetime.now(UTC) + args.expires_in).isoformat('T', 'minutes')}"
    print(
        f"issued {scope.value} key {key_id} for {subject}{until}; it is shown only once",
        file=sys.stderr,
    )
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    async def action(pool: asyncpg.Pool) -> tuple:
        async with pool.acquire() as conn:
            return await keys.rotate(
                conn, args.key_id, timedelta(hours=args.overlap), audit.cli_actor()
            )

    try:
        new_id, key, old_expires = database.run(args, action)
    except KeyNotFound:
        print(f"aedgw: no live key {args.key_id!r}", file=sys.stderr)
        return 1
    print(key)
    print(
        f"issued key {new_id}; key {args.key_id} stops working at {old_expires.isoformat()}",
        file=sys.stderr,
    )
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    async def action(pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await keys.revoke(conn, args.key_id, audit.cli_actor())

    try:
        database.run(args, action)
    except KeyNotFound:
        print(f"aedgw: no live key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"key {args.key_id} revoked", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    emit(database.run(args, keys.list_keys), LIST_COLUMNS, as_json=args.json)
    return 0
