"""``aedgw keys issue|rotate|revoke``: the new key alone on stdout, details on stderr."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

import asyncpg

from gateway import keys, operators
from gateway.cli import database
from gateway.keys import KeyNotFound, Scope


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("keys", help="issue, rotate and revoke API keys")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    issue = sub.add_parser("issue", help="issue a key (printed once, stored hashed)")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--operator", help="an operator code (submits messages, reads outcomes)")
    who.add_argument("--targeting", help="a targeting system's name (reads the feed)")
    who.add_argument("--admin", help="an administrator's name")
    issue.set_defaults(run=run_issue)
    rotate = sub.add_parser("rotate", help="a new key; the old one works for --overlap hours")
    rotate.add_argument("key_id")
    rotate.add_argument("--overlap", type=float, default=24.0, help="hours (default 24)")
    rotate.set_defaults(run=run_rotate)
    revoke = sub.add_parser("revoke", help="refuse a key at once, in every process")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=run_revoke)


def run_issue(args: argparse.Namespace) -> int:
    if args.operator:
        scope, subject = Scope.OPERATOR, args.operator
    elif args.targeting:
        scope, subject = Scope.TARGETING, args.targeting
    else:
        scope, subject = Scope.ADMIN, args.admin

    async def action(pool: asyncpg.Pool) -> tuple[str, str] | None:
        async with pool.acquire() as conn:
            if scope is Scope.OPERATOR and await operators.get(conn, subject) is None:
                return None
            return await keys.issue(conn, scope, subject)

    issued = database.run(args, action)
    if issued is None:
        print(f"aedgw: no operator {subject!r}; add it with 'aedgw operators add'", file=sys.stderr)
        return 1
    key_id, key = issued
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
