"""Settings: one TOML file, every key overridable by an ``AEDGW_*`` environment variable.

Nested keys use a double underscore (``AEDGW_LIMITS__MAX_BODY_BYTES``); the environment
wins over the file so that a container can be configured without editing it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import orjson

ENV_PREFIX = "AEDGW_"
DEFAULT_FILE = Path("aedgw.toml")


class ConfigError(ValueError):
    """A setting has a value the gateway cannot use; the message names the setting."""


@dataclass(slots=True)
class Limits:
    max_body_bytes: int = 64 * 1024 * 1024
    """Largest body accepted, after gzip decompression."""
    max_items: int = 100_000
    """Most items in one message."""


@dataclass(slots=True)
class Retention:
    """Days each kind of data is kept (0: forever); what each removes and keeps is in
    gateway/retention.py. ``serve`` purges every ``every_s`` seconds (0: never)."""

    raw_days: int = 30
    personal_days: int = 90
    delivered_days: int = 7
    dead_letter_days: int = 30
    feed_days: int = 180
    state_days: int = 400
    """Items' revision state and archived message rows: 0, or at least 365 (an S10 id
    is not reused within 12 months, so a resend must not restart at revision 1)."""
    every_s: float = 3600.0
    batch_size: int = 5000

    def __post_init__(self) -> None:
        for name in ("raw_days", "personal_days", "delivered_days", "dead_letter_days",
                     "feed_days", "state_days", "every_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"retention.{name} must be 0 or more")
        if 0 < self.state_days < 365:
            raise ConfigError("retention.state_days must be 0 (forever) or at least 365")
        if self.batch_size < 1:
            raise ConfigError("retention.batch_size must be at least 1")


@dataclass(slots=True)
class Retry:
    max_attempts: int = 12
    base_delay_s: float = 1.0
    max_delay_s: float = 600.0


@dataclass(slots=True)
class Target:
    """A targeting system the gateway pushes records to."""

    name: str
    url: str
    routes: dict[str, list[str]] = field(default_factory=dict)
    batch_size: int = 500
    concurrency: int = 1
    """Parallel batches per process; 0 routes records here but pushes from other processes."""
    timeout_s: float = 30.0
    auth_header: str | None = None
    """``"Name: value"``, or a bare value sent as ``Authorization``."""
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    retry: Retry = field(default_factory=Retry)
    circuit_failures: int = 5
    """Consecutive transient failures that open the circuit breaker."""
    circuit_cooldown_s: float = 30.0
    """How long an open breaker waits before probing with one record."""

    def receives(self, operator: str, destination_country: str | None) -> bool:
        """Routing: a target gets what its routes list, everything when they list nothing."""
        countries = self.routes.get("destination_countries") or []
        operators = self.routes.get("operators") or []
        if countries and destination_country not in countries:
            return False
        return not operators or operator in operators


@dataclass(slots=True)
class Scorecard:
    late_hours: int = 4
    """An item is late when it arrives less than this many hours before its departure."""
    rollup_interval_s: float = 300.0
    """How often ``serve`` recomputes today's daily rollups."""

    def __post_init__(self) -> None:
        if not 1 <= self.late_hours <= 48:
            raise ConfigError("scorecard.late_hours: 1 to 48")
        if self.rollup_interval_s <= 0:
            raise ConfigError("scorecard.rollup_interval_s: more than 0")


@dataclass(slots=True)
class Console:
    session_hours: float = 8.0
    """How long a console login lasts (it ends sooner when its key is revoked)."""

    def __post_init__(self) -> None:
        if self.session_hours <= 0:
            raise ConfigError("console.session_hours: more than 0")


@dataclass(slots=True)
class Settings:
    listen: str = "127.0.0.1:8080"
    database_url: str | None = None
    data_dir: Path = Path("var")
    pg_dir: Path | None = None
    """Embedded PostgreSQL data directory; ``<data_dir>/pg`` when unset."""
    log_format: str = "auto"
    """``json``, ``console``, or ``auto`` (console on a terminal, JSON otherwise)."""
    log_level: str = "info"
    pool_max_size: int = 10
    callbacks_refresh_s: float = 30.0
    """How often operator profiles are re-read for callback URL changes."""
    shutdown_timeout_s: float = 30.0
    """On SIGTERM or Ctrl-C: how long in-flight requests and target POSTs may take to
    finish; target batches still unanswered then go back to the queue."""
    limits: Limits = field(default_factory=Limits)
    scorecard: Scorecard = field(default_factory=Scorecard)
    console: Console = field(default_factory=Console)
    targets: list[Target] = field(default_factory=list)
    retention: Retention = field(default_factory=Retention)

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0] or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def embedded_dir(self) -> Path:
        return self.pg_dir or self.data_dir / "pg"


def load(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (``./aedgw.toml`` when present) and apply the environment."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    file = path or (DEFAULT_FILE if DEFAULT_FILE.exists() else None)
    if file is not None:
        try:
            data = tomllib.loads(Path(file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{file}: {exc}") from exc
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and value != "":
            _set_env(data, name[len(ENV_PREFIX) :].lower().split("__"), value)
    return _build(Settings, data, "")


def _set_env(data: dict[str, Any], keys: list[str], value: str) -> None:
    if keys == ["targets"]:
        data["targets"] = parse_targets(value)
        return
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


def parse_targets(value: str) -> list[dict[str, Any]]:
    """``AEDGW_TARGETS``: ``name=url,name2=url2`` or a JSON list of target tables."""
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"AEDGW_TARGETS is not valid JSON: {exc}") from exc
        return list(parsed)
    targets = []
    for pair in filter(None, (p.strip() for p in value.split(","))):
        name, sep, url = pair.partition("=")
        if not sep or not name or not url:
            raise ConfigError(f"AEDGW_TARGETS entry {pair!r} is not name=url")
        targets.append({"name": name.strip(), "url": url.strip()})
    return targets


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Make a settings dataclass from a mapping, converting env strings to field types."""
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown setting {where}{sorted(unknown)[0]}")
    kwargs = {}
    for name, raw in data.items():
        kwargs[name] = _convert(hints[name], raw, f"{where}{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or 'settings'}: {exc}") from exc


def _convert(hint: Any, raw: Any, where: str) -> Any:
    origin = getattr(hint, "__origin__", None)
    args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
    if origin is list and args and is_dataclass(args[0]):
        return [_build(args[0], item, f"{where}[{i}].") for i, item in enumerate(raw)]
    if is_dataclass(hint):
        return _build(hint, raw, f"{where}.")
    if not isinstance(raw, str):
        return raw
    target = args[0] if args and origin is not list and origin is not dict else hint
    try:
        if target is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if target in (int, float, Path):
            return target(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {raw!r} is not a {target.__name__}") from exc
    return raw
