"""``aedgw``: one entry point, one module per command group.

Output for people is a table; ``--json`` gives the same for scripts. Commands that need
the database use the server's (``gateway.cli.database``). What a person gets wrong (an
option, a setting, a port in use, no database) is one line on standard error and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from gateway.cli import (
    adapters,
    audit,
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
    targets,
    translate,
)
from gateway.cli.database import DatabaseProblem
from gateway.config import ConfigError
from gateway.operators import OperatorUnknown
from gateway.store import StorageBusy

COMMAND_GROUPS = (
    serve,
    operators,
    keys,
    translate,
    adapters,
    deadletters,
    purge,
    targets,
    receiver,
    bench,
    demo,
    scorecard,
    audit,
    backup,
)


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake told in one line (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
        return _fail(f"configuration: {exc}", 2)
    except (DatabaseProblem, OperatorUnknown) as exc:
        return _fail(str(exc), 1)
    except StorageBusy as exc:
        return _fail(f"the database is busy ({type(exc).__name__}); try again", 1)
    except OSError as exc:  # the machine's answer (a port in use, a file not there)
        where = f": {exc.filename}" if exc.filename else ""
        hint = "; choose another port" if exc.errno == errno.EADDRINUSE else ""
        return _fail(f"{exc.strerror or exc}{where}{hint}", 1)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int) -> int:
    print(f"aedgw: {message}", file=sys.stderr)
    return code
