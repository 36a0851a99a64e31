"""``aedgw backup DEST`` and ``aedgw restore SOURCE``: a physical copy of the database
(pg_basebackup, online) and its restore into the embedded data directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway import audit, backup, config
from gateway.cli import database
from gateway.cli.output import emit, emit_json


def register(commands: argparse._SubParsersAction) -> None:
    save = commands.add_parser(
        "backup", help="copy the database, physically and online, into a new directory"
    )
    save.add_argument("dest", type=Path, help="a directory that does not exist yet, or is empty")
    save.add_argument("--json", action="store_true", help="print the result as JSON")
    save.set_defaults(run=run_backup)
    load = commands.add_parser(
        "restore", help="replace the embedded database with a backup (the gateway stopped)"
    )
    load.add_argument("source", type=Path, help="a directory written by aedgw backup")
    load.add_argument("--json", action="store_true", help="print the result as JSON")
    load.set_defaults(run=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    try:
        with database.server_url(settings) as url:
            made = backup.backup(url, args.dest)
    except backup.BackupError as exc:
        print(f"aedgw: backup: {exc}", file=sys.stderr)
        return 1
    result = {"backup": str(made.path), "bytes": made.bytes, "seconds": round(made.seconds, 1)}
    _show(result, args.json)
    return 0


def run_restore(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    try:
        located = database.locate(settings)
    except database.NoDatabase:  # a new machine: the restore makes the database
        located = database.Located(None, settings.embedded_dir, "the settings' data directory")
    if located.pg_dir is None:
        print(
            "aedgw: restore: restore replaces the embedded database only; restore "
            "AEDGW_DATABASE_URL's server with its own tools (the backup is a data "
            "directory for it)",
            file=sys.stderr,
        )
        return 1
    try:
        done = backup.restore(located.pg_dir, args.source, audit.cli_actor())
    except backup.BackupError as exc:
        print(f"aedgw: restore: {exc}", file=sys.stderr)
        return 1
    result = {
        "restored": str(done.path),
        "as_of": done.taken_at,
        "previous_data_moved_to": str(done.previous) if done.previous else None,
    }
    _show(result, args.json)
    print(
        f"aedgw: restored the {located.describe()}; data written after the backup is not "
        "there, and feed cursors handed out from it are answered 410 (cursor_purged)",
        file=sys.stderr,
    )
    return 0


def _show(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        emit_json(result)
    else:
        emit([result], tuple(result), as_json=False)
