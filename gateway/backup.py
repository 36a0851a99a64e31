"""Physical backup and restore of the gateway's database.

Physical, never a logical dump: a dump restored into a new cluster starts the
transaction ids over, and the feeds' cursors are (transaction id, sequence) pairs, so
readers would skip records or never see them. ``pg_basebackup`` (from the pinned
pgserver's binaries, the server's own major version) copies the data directory of a
running server with the WAL that makes it consistent, and writes a manifest of every
file with its SHA-256, checked after the backup and before a restore. (The checks are
pg_verifybackup's but for parsing the WAL: the pinned wheel's pg_verifybackup crashes.)

A restore brings the database back to the moment of the backup: what was written after
it is lost, and the cursors handed out from those lost records must not be read on
from (new records would reuse their transaction ids and sort before them). So the
restore moves the transaction id epoch on (``pg_resetwal -e``: the epoch is stored
nowhere but in the control file, any value is safe for the database), which puts
every new record after every cursor ever handed out, and records the range of ids
the lost cursors can carry: the feeds answer those 410 (migration 0009, ``restores``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson

from gateway import audit
from gateway.audit import Actor
from gateway.embedded import HANDLES, embedded_server, forget_dead_users, load_pgserver
from gateway.store import Q, create_pool
from gateway.store.migrate import migrate

EPOCH = 1 << 32
"""A 64-bit transaction id (xid8) is its epoch times 2**32 plus the 32-bit id."""
SERVER_USER = "pgserver"
"""The system user pgserver (0.6) creates and runs the server as, under root."""
LEFT_BEHIND = (HANDLES, "postmaster.pid", "postmaster.opts", ".s.PGSQL.*")
"""Files of the backed-up server's running state (its users, pid, socket lock), never
part of a restored one: a socket lock naming a pid still alive stops the start."""


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    bytes: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Restored:
    path: Path
    taken_at: str
    """When the backup began (its backup_label): the state the database is back to."""
    previous: Path | None
    """Where the data directory the restore replaced was moved (nothing is deleted)."""
    lost_from: int
    lost_to: int
    """Transaction ids of records written after the backup, lost: cursors there are 410."""


def backup(database_url: str, dest: Path) -> Backup:
    """``pg_basebackup`` of the server at ``database_url`` into ``dest`` (new or empty),
    then checked against its manifest."""
    dest = dest.expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty directory")
    started = datetime.now(UTC)
    label = f"aedgw {started.isoformat(timespec='seconds')}"
    _run(
        "pg_basebackup",
        "--dbname",
        database_url,
        "--pgdata",
        str(dest),
        "--wal-method",
        "stream",
        "--checkpoint",
        "fast",
        "--manifest-checksums",
        "SHA256",
        "--label",
        label,
        "--no-password",
    )
    verify(dest)
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    return Backup(dest, size, (datetime.now(UTC) - started).total_seconds())


def restore(pg_dir: Path, source: Path, actor: Actor) -> Restored:
    """Replace the embedded database's data directory ``pg_dir`` (which need not exist)
    with the backup in ``source``."""
    source = source.expanduser().resolve()
    verify(source)
    pg_dir = pg_dir.expanduser().resolve()
    _refuse_if_running(pg_dir)
    previous = None
    if pg_dir.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        previous = pg_dir.with_name(f"{pg_dir.name}.before-restore-{stamp}")
        pg_dir.rename(previous)
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, pg_dir, symlinks=True)
    for pattern in LEFT_BEHIND:
        for leftover in pg_dir.glob(pattern):
            leftover.unlink()
    _own(pg_dir)
    with embedded_server(pg_dir):
        pass  # recovery from the backup runs, then a clean stop (pg_resetwal needs one)
    epoch, xid = _next_xid(pg_dir)
    _run("pg_resetwal", "--epoch", str(epoch + 1), "--pgdata", str(pg_dir), as_owner=True)
    lost_from, lost_to = epoch * EPOCH + xid, (epoch + 1) * EPOCH
    with embedded_server(pg_dir) as url:
        asyncio.run(_record(url, lost_from, lost_to, str(source), actor))
    return Restored(pg_dir, _taken_at(source), previous, lost_from, lost_to)


def verify(backup_dir: Path) -> None:
    """Every file of the backup's manifest is there with its size and SHA-256, and the
    manifest itself is intact; BackupError names the first that is not."""
    try:
        raw = (backup_dir / "backup_manifest").read_bytes()
    except FileNotFoundError:
        raise BackupError(f"{backup_dir} is not a backup made by aedgw backup") from None
    body, _, _ = raw.partition(b'"Manifest-Checksum"')
    manifest = orjson.loads(raw)
    if hashlib.sha256(body).hexdigest() != manifest.get("Manifest-Checksum"):
        raise BackupError(f"{backup_dir}/backup_manifest is damaged")
    for entry in manifest["Files"]:
        path = backup_dir / entry["Path"]
        if entry.get("Checksum-Algorithm") != "SHA256":
            raise BackupError(f"{backup_dir} was not written with SHA-256 checksums")
        if not path.is_file() or path.stat().st_size != entry["Size"]:
            raise BackupError(f"{path} is missing or has the wrong size")
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry["Checksum"]:
            raise BackupError(f"{path} does not match its checksum")


async def _record(url: str, lost_from: int, lost_to: int, source: str, actor: Actor) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)  # a backup of an older gateway lacks the restores table
    finally:
        await conn.close()
    pool = await create_pool(url, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(Q.insert_restore, str(lost_from), str(lost_to), source)
            details = {"lost_from_xid": lost_from, "lost_to_xid": lost_to}
            await audit.record(conn, actor, "database.restore", source, details)
    finally:
        await pool.close()


def _taken_at(source: Path) -> str:
    label = (source / "backup_label").read_text()
    match = re.search(r"^START TIME: (.+)$", label, re.MULTILINE)
    return match[1] if match else "unknown"


def _refuse_if_running(pg_dir: Path) -> None:
    """A live server on the data directory (a serve, a CLI command) must stop first."""
    pid_file = pg_dir / "postmaster.pid"
    if not pid_file.exists():
        return
    forget_dead_users(pg_dir)
    users = (pg_dir / HANDLES).read_text().strip() if (pg_dir / HANDLES).exists() else ""
    raise BackupError(
        f"the embedded PostgreSQL in {pg_dir} is running (pid "
        f"{pid_file.read_text().split()[0]}, used by {users or 'no live process'}): "
        "stop the gateway first"
    )


def _next_xid(pg_dir: Path) -> tuple[int, int]:
    """The next transaction id of a stopped cluster, as (epoch, 32-bit id)."""
    control = _run("pg_controldata", str(pg_dir), as_owner=True)
    match = re.search(r"Latest checkpoint's NextXID:\s+(\d+):(\d+)", control)
    if match is None:
        raise BackupError("pg_controldata did not show the next transaction id")
    return int(match[1]), int(match[2])


def _own(pg_dir: Path) -> None:
    """The data directory as the server wants it: mode 0700, and owned by the user
    pgserver runs the server as when the gateway runs as root."""
    pg_dir.chmod(0o700)
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(pg_dir):
        for name in [".", *dirs, *files]:
            shutil.chown(Path(root) / name, SERVER_USER, SERVER_USER)


def _run(program: str, *args: str, as_owner: bool = False) -> str:
    """A program of the pinned PostgreSQL; as the data directory's owner if asked."""
    pgserver = load_pgserver()
    binaries = pgserver.postgres_server.POSTGRES_VERSIONS[pgserver.TARGET_POSTGRES_VERSION]
    user = SERVER_USER if as_owner and os.geteuid() == 0 else None
    try:
        done = subprocess.run(
            [str(binaries / program), *args],
            capture_output=True,
            text=True,
            check=True,
            user=user,
        )
    except subprocess.CalledProcessError as failed:
        lines = [line for line in failed.stderr.splitlines() if line.strip()]
        raise BackupError(f"{program}: {lines[-1] if lines else 'failed'}") from None
    return done.stdout
