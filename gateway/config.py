"""Settings: one TOML file, every key overridable by an ``AEDGW_*`` environment variable.

Nested keys use a double underscore (``AEDGW_LIMITS__MAX_BODY_BYTES``); the environment
wins over the file so that a container can be configured without editing it. Every value
is checked for its type and range when it is read (``listen = 8080``, ``batch_size = -1``
stop the start with a message naming the setting), never when it is first used.
"""

from __future__ import annotations

import os
import re
import ssl
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit

import orjson

ENV_PREFIX = "AEDGW_"
DEFAULT_FILE = Path("aedgw.toml")
ROUTE_KEYS = ("destination_countries", "operators")


class ConfigError(ValueError):
    """A setting has a value the gateway cannot use; the message names the setting."""


def _listen(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        return 'is "HOST:PORT", e.g. "127.0.0.1:8080"'
    return None


def check_listen(value: str, where: str = "listen") -> None:
    """Refuse a listen address that is not HOST:PORT (a ``--listen`` option, say)."""
    problem = _listen(value)
    if problem:
        raise ConfigError(f"{where} = {value!r}: {problem}")


def _name(value: str) -> str | None:
    # ":" is kept for the outbox queues of operators' callbacks ("callback:alpha").
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        return "is letters, digits, '.', '_' or '-' (at most 64)"
    return None


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    return None if parts.scheme and parts.netloc else "is an absolute URL"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    return lambda value: None if value in choices else f"is one of {', '.join(choices)}"


def checked(
    default: Any = MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    check: Callable[[Any], str | None] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A settings field with the bounds (``low``/``high``) or ``check`` that ``load``
    applies; ``check`` answers what is wrong (None when the value is good). Without a
    default the setting is required."""
    meta = {"low": low, "high": high, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(slots=True)
class Limits:
    max_body_bytes: int = checked(64 * 1024 * 1024, low=1)
    """Largest body accepted, after gzip decompression."""
    max_items: int = checked(100_000, low=1)
    """Most items in one message."""
    # The limits below are for the whole gateway; each process enforces its share
    # (divided by ``Settings.workers``). See gateway/limits.py and SECURITY.md.
    operator_requests_per_s: float = checked(2000.0, low=0.001)
    """Requests per second per operator (429 rate_limited beyond)."""
    operator_concurrency: int = checked(64, low=1)
    """Requests in flight per operator (429 rate_limited beyond)."""
    body_timeout_s: float = checked(300.0, low=0.001)
    """A request body must have arrived within this (408 request_timeout)."""
    min_upload_bytes_per_s: float = checked(10_240.0, low=0.001)
    """After a 5 s grace, a body must arrive at least this fast on average (408)."""
    body_memory_bytes: int = checked(256 * 1024 * 1024, low=1)
    """Request bodies held in memory at once (503 overloaded beyond)."""
    max_connections: int = checked(512, low=1)
    """Open client connections (503 overloaded to more)."""


@dataclass(slots=True)
class Tls:
    """HTTPS for ``aedgw serve``; with ``client_ca``, operators may authenticate their
    connection with a client certificate (mutual TLS) besides their key."""

    cert: Path | None = None
    key: Path | None = None
    client_ca: Path | None = None


def _state_days(value: int) -> str | None:
    return None if value == 0 or value >= 365 else "is 0 (forever) or at least 365"


@dataclass(slots=True)
class Retention:
    """Days each kind of data is kept (0: forever); what each removes and keeps is in
    gateway/retention.py. ``serve`` purges every ``every_s`` seconds (0: never)."""

    raw_days: int = checked(30, low=0)
    personal_days: int = checked(90, low=0)
    delivered_days: int = checked(7, low=0)
    dead_letter_days: int = checked(30, low=0)
    feed_days: int = checked(180, low=0)
    state_days: int = checked(400, check=_state_days)
    """Items' revision state and archived message rows: 0, or at least 365 (an S10 id
    is not reused within 12 months, so a resend must not restart at revision 1)."""
    every_s: float = checked(3600.0, low=0)
    batch_size: int = checked(5000, low=1)


@dataclass(slots=True)
class Retry:
    max_attempts: int = checked(12, low=1)
    base_delay_s: float = checked(1.0, low=0)
    max_delay_s: float = checked(600.0, low=0)


TARGET_KINDS = ("http", "nats")
SUBJECT_FIELDS = frozenset({"operator", "destination"})
"""What a NATS subject may name, filled in per record: ``aed.{destination}.{operator}``."""


def _subject(template: str) -> str | None:
    try:
        named = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return f"is not a subject template: {exc}"
    unknown = named - SUBJECT_FIELDS
    if unknown or "" in named:
        return "may name only {operator} and {destination}"
    return None


def _stream(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        return "is letters, digits, '_' or '-' (at most 64): a JetStream stream name"
    return None


@dataclass(slots=True)
class Target:
    """A system the gateway pushes to: a targeting system from the settings, or an
    operator's callback URL (its queue ``callback:<code>``)."""

    name: str = checked(check=_name)
    url: str = checked(check=_url)
    routes: dict[str, list[str]] = field(default_factory=dict)
    """``destination_countries`` and/or ``operators``; none: everything."""
    batch_size: int = checked(500, low=1)
    concurrency: int = checked(1, low=0)
    """Parallel batches per process; 0 routes records here but pushes from other processes."""
    timeout_s: float = checked(30.0, low=0.001)
    auth_header: str | None = None
    """``"Name: value"``, or a bare value sent as ``Authorization``."""
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    retry: Retry = field(default_factory=Retry)
    circuit_failures: int = checked(5, low=1)
    """Consecutive transient failures that open the circuit breaker."""
    circuit_cooldown_s: float = checked(30.0, low=0)
    """How long an open breaker waits before probing with one record."""
    gzip: bool = False
    """Send each batch gzip-compressed (``Content-Encoding: gzip``): a tenth of the bytes
    on the wire, for a few milliseconds of CPU per batch."""
    kind: str = checked("http", check=_one_of(*TARGET_KINDS))
    """``http`` (POST batches to ``url``) or ``nats`` (JetStream: ``url`` is
    ``nats://host:port``, each record published to ``subject`` in ``stream``)."""
    subject: str | None = checked(None, check=_subject)
    """NATS subject; may name ``{operator}`` and ``{destination}``."""
    stream: str | None = checked(None, check=_stream)
    """JetStream stream the subject belongs to; created when it does not exist."""

    def __post_init__(self) -> None:
        if self.kind == "nats" and not (self.subject and self.stream):
            raise ConfigError(f"target {self.name}: a nats target needs a subject and a stream")

    def receives(self, operator: str, destination_country: str | None) -> bool:
        """Routing: a target gets what its routes list, everything when they list nothing."""
        countries = self.routes.get("destination_countries") or []
        operators = self.routes.get("operators") or []
        if countries and destination_country not in countries:
            return False
        return not operators or operator in operators

    @property
    def headers(self) -> dict[str, str]:
        """``auth_header`` as a header: ``"Name: value"`` sends that header; a bare value
        is sent as ``Authorization`` (``"Bearer abc"``)."""
        if not self.auth_header:
            return {}
        name, sep, rest = self.auth_header.partition(":")
        if sep and name.strip() and " " not in name.strip():
            return {name.strip(): rest.strip()}
        return {"Authorization": self.auth_header.strip()}

    def ssl_context(self) -> ssl.SSLContext | None:
        """Server verification against ``tls_ca`` and a client certificate for mTLS; None
        (the system's defaults) when no TLS file is set."""
        if not (self.tls_ca or self.tls_cert):
            return None
        context = ssl.create_default_context(cafile=self.tls_ca)
        if self.tls_cert:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


@dataclass(slots=True)
class Scorecard:
    late_hours: int = checked(4, low=1, high=48)
    """An item is late when it arrives less than this many hours before its departure."""
    rollup_interval_s: float = checked(300.0, low=1)
    """How often ``serve`` recomputes today's daily rollups."""


@dataclass(slots=True)
class Ingest:
    """Group commit (gateway/ingest/group.py): concurrent messages share a transaction;
    a large message is stored as a stream, in one of its own (gateway/ingest/stream.py)."""

    group_window_ms: float = checked(2.0, low=0, high=1000)
    """How long the first message of a group waits for others (0: no wait)."""
    group_max_items: int = checked(1000, low=1)
    """Items (summed over its messages) that close a group at once."""
    group_concurrency: int = checked(4, low=1)
    """Groups one process stores at the same time, of which one at most could still
    grow (was not full): small messages arriving while it is stored wait for it and
    make the next group larger."""
    stream_items: int = checked(2000, low=1)
    """A message found to carry more items than this (refused ones included) while it
    is read is stored as a stream (gateway/ingest/stream.py): in a transaction of its
    own, translated and written a chunk at a time, never held translated whole."""
    stream_chunk_items: int = checked(1000, low=1)
    """Items a stream translates and writes at a time."""


@dataclass(slots=True)
class Console:
    session_hours: float = checked(8.0, low=0.01)
    """How long a console login lasts (it ends sooner when its key is revoked)."""


@dataclass(slots=True)
class Settings:
    listen: str = checked("127.0.0.1:8080", check=_listen)
    database_url: str | None = None
    data_dir: Path = Path("var")
    pg_dir: Path | None = None
    """Embedded PostgreSQL data directory; ``<data_dir>/pg`` when unset."""
    log_format: str = checked("auto", check=_one_of("json", "console", "auto"))
    """``json``, ``console``, or ``auto`` (console on a terminal, JSON otherwise)."""
    log_level: str = checked("info", check=_one_of("debug", "info", "warning", "error"))
    pool_max_size: int = checked(10, low=1)
    workers: int = checked(1, low=1)
    """Processes serving the port (``aedgw serve --workers``); per-process limits are
    divided by it."""
    callbacks_refresh_s: float = checked(30.0, low=0.1)
    """How often operator profiles are re-read for callback URL changes."""
    metrics_auth: bool = False
    """``/metrics`` needs an admin or monitoring key (its labels name operators)."""
    shutdown_timeout_s: float = checked(30.0, low=0)
    """On SIGTERM or Ctrl-C: how long in-flight requests and target POSTs may take to
    finish; target batches still unanswered then go back to the queue."""
    limits: Limits = field(default_factory=Limits)
    scorecard: Scorecard = field(default_factory=Scorecard)
    ingest: Ingest = field(default_factory=Ingest)
    console: Console = field(default_factory=Console)
    targets: list[Target] = field(default_factory=list)
    retention: Retention = field(default_factory=Retention)
    tls: Tls = field(default_factory=Tls)
    key_expiry_warning_days: float = checked(14.0, low=0)
    """A key that stops working within this is logged as a warning every hour."""
    given: frozenset[str] = field(default=frozenset(), metadata={"internal": True})
    """Top-level settings the file or the environment gave (the rest are defaults)."""

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"

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
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{file}: {exc}") from exc
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and value != "":
            _set_env(data, name[len(ENV_PREFIX) :].lower().split("__"), value)
    settings = _build(Settings, data, "")
    settings.given = frozenset(data)
    names = [t.name for t in settings.targets]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"targets: the name {twice[0]!r} is used twice")
    return settings


def _set_env(data: dict[str, Any], keys: list[str], value: str) -> None:
    if keys == ["targets"]:
        data["targets"] = parse_targets(value)
        return
    for key in keys[:-1]:
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            raise ConfigError(f"{ENV_PREFIX}{'__'.join(keys).upper()}: not a section")
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


def _build(cls: type, data: Any, where: str) -> Any:
    """Make a settings dataclass from a mapping, converting env strings to field types
    and checking every value's type and range."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where.rstrip('.') or 'settings'}: a table of settings is expected")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting {where}{sorted(unknown)[0]}")
    kwargs = {}
    for name, raw in data.items():
        value = _convert(hints[name], raw, f"{where}{name}")
        _check_range(known[name].metadata, value, f"{where}{name}")
        kwargs[name] = value
    missing = [
        name for name, f in known.items()
        if name not in kwargs and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ConfigError(f"{where}{missing[0]} is required")
    return cls(**kwargs)


def _check_range(meta: Mapping[str, Any], value: Any, where: str) -> None:
    low, high, check = meta.get("low"), meta.get("high"), meta.get("check")
    if low is not None and value < low:
        raise ConfigError(f"{where} = {value!r}: at least {low:g}")
    if high is not None and value > high:
        raise ConfigError(f"{where} = {value!r}: at most {high:g}")
    problem = check(value) if check and value is not None else None
    if problem:
        raise ConfigError(f"{where} = {value!r}: {problem}")


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _convert(hint: Any, raw: Any, where: str) -> Any:
    """``raw`` as a value of ``hint``: TOML and JSON values must have the type already;
    environment strings are read as it."""
    origin = getattr(hint, "__origin__", None)
    args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
    optional = len(args) < len(getattr(hint, "__args__", ()))
    if raw is None and optional:
        return None
    if origin is list and args and is_dataclass(args[0]):
        if not isinstance(raw, list):
            raise ConfigError(f"{where}: a list of tables is expected")
        return [_build(args[0], item, f"{where}[{i}].") for i, item in enumerate(raw)]
    if is_dataclass(hint):
        return _build(hint, raw, f"{where}.")
    if origin is dict:
        return _routes(raw, where)
    target = args[0] if optional else hint
    if isinstance(raw, str):
        return _from_text(target, raw, where)
    ok = (
        isinstance(raw, bool) if target is bool
        else isinstance(raw, int) and not isinstance(raw, bool) if target is int
        else isinstance(raw, int | float) and not isinstance(raw, bool) if target is float
        else False
    )
    if not ok:
        raise ConfigError(f"{where} = {raw!r}: a {_kind(target)} is expected")
    return float(raw) if target is float else raw


def _from_text(target: Any, raw: str, where: str) -> Any:
    if target is bool:
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ConfigError(f"{where} = {raw!r}: true or false is expected")
        return word in _TRUE
    if target in (int, float):
        try:
            return target(raw)
        except ValueError:
            raise ConfigError(f"{where} = {raw!r}: a {_kind(target)} is expected") from None
    return Path(raw) if target is Path else raw


def _kind(target: Any) -> str:
    return {bool: "boolean", int: "whole number", float: "number", Path: "path"}.get(
        target, "string"
    )


def _routes(raw: Any, where: str) -> dict[str, list[str]]:
    """A target's routes: a typo'd key would route everything to it, so none is allowed."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: a table is expected, e.g. {{ operators = [\"alpha\"] }}")
    for key, value in raw.items():
        if key not in ROUTE_KEYS:
            raise ConfigError(f"{where}: unknown route {key!r} (known: {', '.join(ROUTE_KEYS)})")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}.{key}: a list of strings is expected")
    return {key: list(value) for key, value in raw.items()}
