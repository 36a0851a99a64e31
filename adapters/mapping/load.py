"""Reading a mapping file: TOML, ``extends``, and errors that name the file and the key.

A version file usually builds on a shared one (``extends = "_itmatt.toml"``); tables merge
key by key and every key remembers which file set it, so that an error or a lint finding
sends the onboarding engineer to the right file.
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

ORIGIN = "__origin__"
"""The key under which a table records the file that set each of its keys."""

MERGED = {
    "namespaces",
    "detect",
    "message_ref",
    "items",
    "item",
    "party",
    "party.address",
    "sender",
    "sender.address",
    "addressee",
    "addressee.address",
    "contents",
    "documents",
    "transport",
    "codes",
    "patterns",
}
"""Tables merged key by key with the file they extend; any other key replaces the base's."""


class MappingError(Exception):
    """A mapping file that cannot be used; the message names the file and the key."""

    def __init__(self, file: str, key: str, message: str) -> None:
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


def read(source: Traversable | str) -> tuple[dict[str, Any], str]:
    """The merged spec of a mapping file (following ``extends``) and its display name."""
    path = Path(source) if isinstance(source, str) else source
    return _read(path, frozenset()), display(path)


def display(source: Traversable) -> str:
    """A short name for messages: ``adapters/alpha/itmatt-11.toml`` when under adapters/."""
    parts = str(source).replace("\\", "/").split("/")
    if "adapters" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("adapters") - 1 :])
    return str(source)


def _read(source: Traversable, seen: frozenset[str]) -> dict[str, Any]:
    name = display(source)
    if name in seen:
        raise MappingError(name, "extends", "files extend each other in a cycle")
    try:
        spec = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(name, "", str(exc)) from None
    _mark_origin(spec, name, "")
    base_name = spec.pop("extends", None)
    if base_name is None:
        return spec
    if not isinstance(base_name, str):
        raise MappingError(name, "extends", "the file name of the mapping this one builds on")
    base = _read(source.parent.joinpath(base_name), seen | {name})  # type: ignore[attr-defined]
    return merge(base, spec)


def _mark_origin(spec: dict[str, Any], file: str, where: str) -> None:
    spec[ORIGIN] = {key: file for key in spec}
    for key, value in spec.items():
        if isinstance(value, dict) and f"{where}{key}" in MERGED:
            _mark_origin(value, file, f"{where}{key}.")


def merge(base: dict[str, Any], child: dict[str, Any], where: str = "") -> dict[str, Any]:
    """``child`` on top of ``base``: merged tables key by key, anything else replaced."""
    out = dict(base)
    out[ORIGIN] = {**base.get(ORIGIN, {}), **child.get(ORIGIN, {})}
    for key, value in child.items():
        here = f"{where}{key}"
        if key == ORIGIN:
            continue
        if here in MERGED and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, here + ".")
        else:
            out[key] = value
    return out


def clean(table: dict[str, Any]) -> dict[str, Any]:
    """The table without its origin record."""
    return {k: v for k, v in table.items() if k != ORIGIN}


def _origins(spec: dict[str, Any], where: str = "") -> dict[str, str]:
    out = {}
    for key, file in spec.get(ORIGIN, {}).items():
        out[f"{where}{key}"] = file
        value = spec.get(key)
        if isinstance(value, dict):
            out.update(_origins(value, f"{where}{key}."))
    return out


class Checker:
    """Shape checks on a merged spec; each failure names the file that set the key."""

    def __init__(self, spec: dict[str, Any], file: str) -> None:
        self.file = file
        self.origins = _origins(spec)

    def origin_of(self, key: str) -> str:
        """The file that set ``key`` or the nearest table around it."""
        while key:
            if key in self.origins:
                return self.origins[key]
            key = key.rpartition(".")[0]
        return self.file

    def fail(self, key: str, message: str) -> MappingError:
        return MappingError(self.origin_of(key), key, message)

    def text(self, spec: dict[str, Any], key: str) -> str:
        value = spec.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "required: a string")
        return value

    def only(self, table: Any, where: str, allowed: set[str]) -> dict[str, Any]:
        """The table, checked to hold no key outside ``allowed``."""
        if not isinstance(table, dict):
            raise self.fail(where.rstrip("."), "must be a table")
        for key in table:
            if key != ORIGIN and key not in allowed:
                raise self.fail(
                    f"{where}{key}", f"unknown key; known: {', '.join(sorted(allowed))}"
                )
        return clean(table)

    def table_of(self, spec: dict[str, Any], key: str) -> dict[str, Any]:
        table = spec.get(key, {})
        if not isinstance(table, dict):
            raise self.fail(key, "must be a table")
        return table

    def strings(self, table: Any, where: str) -> dict[str, str]:
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table")
        out = clean(table)
        for key, value in out.items():
            if not isinstance(value, str):
                raise self.fail(f"{where}.{key}", "must be a string")
        return out

    def regexes(self, table: Any, where: str) -> list[tuple[str, re.Pattern[str]]]:
        out = []
        for result, pattern in self.strings(table, where).items():
            try:
                out.append((result, re.compile(pattern)))
            except re.error as exc:
                raise self.fail(f"{where}.{result}", f"bad regular expression: {exc}") from None
        return out


def listed(table: dict[str, Any], key: str) -> list[Any]:
    """A value that may be given as one string or a list of them."""
    value = table.get(key, [])
    return [value] if isinstance(value, str) else list(value)
