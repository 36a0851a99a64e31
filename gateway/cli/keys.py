"""``aedgw keys issue|rotate|revoke``: the new key alone on stdout, details on stderr."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

import asyncpg

from gateway import keys, operators
from gateway.cli import database
from gateway.cli.arguments import hours, operator_code
from gateway.keys import KeyNotFound, Scope


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


def run_issue(args: argparse.Namespace) -> int:
    scope = next(s for s in Scope if getattr(args, s.value))
    subject = getattr(args, scope.value)

    async def action(pool: asyncpg.Pool) -> tuple[str, str]:
        async with pool.acquire() as conn:
            if scope is Scope.OPERATOR:
                await operators.require(conn, subject)
            return await keys.issue(conn, scope, subject)

    key_id, key = database.run(args, action)
    print(key)
    print(
        f"issued {scope.value} key {key_id} for {subject}; it is shown only once", file=sys.stderr
    )
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    async def action(pool: asyncpg.Pool) -> tuple:
        async with pool.acquire() as conn:
            return await keys.rotate(conn, args.key_id, timedelta(hours=args.overlap))

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
            await keys.revoke(conn, args.key_id)

    try:
        database.run(args, action)
    except KeyNotFound:
        print(f"aedgw: no live key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"key {args.key_id} revoked", file=sys.stderr)
    return 0
