"""Finding plug-ins: what operator packages declare, and what other distributions ship.

Adapters and decision renderers are found the same way. An operator folder under
``adapters/`` declares them in one of its modules (``ADAPTERS`` in its ``__init__.py``,
``RENDERERS`` in ``decisions.py``); another distribution lists them under an entry point
group (``aed_gateway.adapters``, ``aed_gateway.decision_renderers``). Each object comes
with where it was found, so that an error can name it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from importlib.metadata import entry_points
from importlib.resources.abc import Traversable
from typing import Any


def operator_folders(root: Traversable) -> Iterator[Traversable]:
    """The operator folders of an adapters package, by name (``_x``, ``.x`` are not)."""
    for folder in sorted(root.iterdir(), key=lambda f: f.name):
        if folder.is_dir() and not folder.name.startswith(("_", ".")):
            yield folder


def declared(root: Traversable, module: str, name: str) -> Iterator[tuple[Any, str]]:
    """``name`` in module ``module`` of each operator package under ``root`` that has
    that module (``module`` "": the package's ``__init__.py``)."""
    for folder in operator_folders(root):
        if not folder.joinpath(f"{module or '__init__'}.py").is_file():
            continue
        dotted = ".".join(part for part in (root.name, folder.name, module) if part)
        loaded = importlib.import_module(dotted)
        if hasattr(loaded, name):
            yield getattr(loaded, name), f"{dotted}.{name}"


def shipped(group: str) -> Iterator[tuple[Any, str]]:
    """What other installed distributions list under the entry point ``group``."""
    for point in entry_points(group=group):
        yield point.load(), f"entry point {point.name} ({point.value})"
