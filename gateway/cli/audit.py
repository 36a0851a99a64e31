"""``aedgw audit list``: who did which administrative act, when and from where."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import asyncpg
import orjson

from gateway import audit
from gateway.cli import database
from gateway.cli.arguments import utc_time
from gateway.cli.output import emit

COLUMNS = ("id", "at", "actor", "action", "subject", "source", "details")


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("audit", help="the audit trail of administrative acts")
    sub = group.add_subparsers(dest="what", required=True, metavar="ACTION")
    lst = sub.add_parser("list", help="acts in the order they happened")
    lst.add_argument(
        "--since", type=utc_time, help="at or after this ISO 8601 time (UTC if no offset)"
    )
    lst.add_argument("--action", help="keys, keys.revoke, operators, deadletters.replay, …")
    lst.add_argument("--actor", help="an admin key id, or cli:<user>@<host>")
    lst.add_argument("--after", type=int, default=0, help="entries after this id")
    lst.add_argument("--limit", type=int, default=100, help="most entries shown (default 100)")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    if args.limit < 1 or args.after < 0:
        print("aedgw: --limit must be positive and --after not negative", file=sys.stderr)
        return 2

    async def action(pool: asyncpg.Pool) -> list[dict[str, Any]]:
        return await audit.entries(
            pool,
            since=args.since,
            action=args.action,
            actor=args.actor,
            after_id=args.after,
            limit=args.limit,
        )

    rows = database.run(args, action)
    if not args.json:  # details as JSON in the table too, not as a Python dict
        rows = [{**row, "details": orjson.dumps(row["details"]).decode()} for row in rows]
    emit(rows, COLUMNS, as_json=args.json)
    return 0
