"""``aedgw``: one entry point, one module per command group.

Output for people is a table; ``--json`` gives the same for scripts. Commands that need
the database use ``AEDGW_DATABASE_URL`` or join the embedded server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.cli import (
    adapters,
    backup,
    bench,
    deadletters,
    demo,
    keys,
    operators,
    purge,
    receiver,
    scorecard,
    serve,
    translate,
)
from gateway.config import ConfigError

COMMAND_GROUPS = (
    serve,
    operators,
    keys,
    translate,
    adapters,
    deadletters,
    purge,
    receiver,
    bench,
    demo,
    scorecard,
    backup,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aedgw", description="AED Gateway: postal advance electronic data exchange."
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML settings file (default ./aedgw.toml)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"aedgw: configuration: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
