"""Every adapter the gateway knows, keyed by (format, version).

Three sources, all explicit: the mapping files under ``adapters/<operator>/`` (a name
starting with "_" is a shared part that other files ``extends``), Python adapters that an
operator package lists in ``ADAPTERS`` (``adapters/<operator>/__init__.py``), and entry
points in the group ``aed_gateway.adapters`` for adapters shipped in other distributions
(the last two found by :mod:`adapters.plugins`, as decision renderers are).
Two adapters for the same (format, version) are an error naming both sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from adapters import plugins
from adapters.mapping import Mapping
from gateway.contract import Adapter
from gateway.document import Kind

ENTRY_POINT_GROUP = "aed_gateway.adapters"


class RegistryError(Exception):
    """Adapters that cannot be registered together."""


class Registry:
    """Adapters by (format, version), in registration order."""

    def __init__(self, adapters: Iterable[tuple[Adapter, str]] = ()) -> None:
        self._adapters: dict[tuple[str, str], Adapter] = {}
        self._sources: dict[tuple[str, str], str] = {}
        for adapter, source in adapters:
            self.add(adapter, source)

    def add(self, adapter: Adapter, source: str) -> None:
        """Register ``adapter``; ``source`` says where it came from, for error messages."""
        key = (adapter.format, adapter.version)
        if key in self._adapters:
            raise RegistryError(
                f"{adapter.format} version {adapter.version} is defined twice: "
                f"in {self._sources[key]} and in {source}"
            )
        self._adapters[key] = adapter
        self._sources[key] = source

    def adapters(self) -> list[Adapter]:
        return list(self._adapters.values())

    def source_of(self, adapter: Adapter) -> str:
        return self._sources[(adapter.format, adapter.version)]

    def get(self, format: str, version: str) -> Adapter:
        try:
            return self._adapters[(format, version)]
        except KeyError:
            raise KeyError(f"no adapter for {format} version {version}") from None

    def formats(self) -> list[str]:
        """Every format id, without versions, sorted."""
        return sorted({fmt for fmt, _ in self._adapters})

    def formats_of(self, operator: str) -> list[str]:
        """The formats written for ``operator``: its default profile."""
        return sorted({a.format for a in self._adapters.values() if a.operator == operator})

    def candidates(self, formats: Iterable[str], kind: Kind | None = None) -> list[Adapter]:
        """The adapters of these formats (every version) that read this document kind, in
        registration order: the ones detection chooses among."""
        wanted = set(formats)
        return [
            a
            for a in self._adapters.values()
            if a.format in wanted and (kind is None or a.kind is kind)
        ]


@cache
def default_registry() -> Registry:
    """The adapters of this installation: package mappings, package Python adapters and
    entry points, loaded once."""
    return Registry([*package_adapters(files("adapters")), *entry_point_adapters()])


def package_adapters(root: Traversable) -> Iterator[tuple[Adapter, str]]:
    """The mapping files and the declared Python adapters (``ADAPTERS``) of each operator
    folder in ``root``."""
    for folder in plugins.operator_folders(root):
        for item in sorted(folder.iterdir(), key=lambda f: f.name):
            if item.name.endswith(".toml") and not item.name.startswith("_"):
                mapping = Mapping.load(item)
                yield mapping, mapping.file
    for declared, source in plugins.declared(root, "", "ADAPTERS"):
        yield from ((adapter, source) for adapter in adapters_in(declared))


def entry_point_adapters() -> Iterator[tuple[Adapter, str]]:
    for loaded, source in plugins.shipped(ENTRY_POINT_GROUP):
        yield from ((adapter, source) for adapter in adapters_in(loaded))


def adapters_in(obj: Any) -> Iterator[Adapter]:
    """An adapter, an adapter class, a factory, or an iterable of any of those."""
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Adapter)):
        obj = obj()
    if isinstance(obj, Adapter):
        yield obj
        return
    if isinstance(obj, str) or not isinstance(obj, Iterable):
        raise RegistryError(f"{obj!r} is not an adapter or an iterable of adapters")
    for each in obj:
        yield from adapters_in(each)
