"""What XML and JSON paths share: the context they are read in, and how they fail.

A path is compiled once per mapping file, into a class chosen for its shape (one child,
several child steps, or a general XPath / JSON walk), so that the common shapes take a
short route per item. Every value comes with its source path, built as the path is walked;
see :mod:`.xml_paths` and :mod:`.json_paths` for each syntax.
"""

from __future__ import annotations

from typing import Any, Protocol

from adapters import convert
from adapters.convert import ConversionError, Raw


class Context:
    """Where a table's fields are read: a node, its source path, and its children.

    ``run`` is the document being read (:class:`.xml_paths.XmlRun`, :class:`.json_paths.
    JsonRun`): ``run.begin_item(ctx)`` starts an item, ``run.prepare(ctx)`` fills
    ``children`` (XML: the children by tag; JSON: the object) before the context is read
    from. ``base`` is what a child step's path is appended to: the path itself, except at
    an NDJSON line's top ("line 3 " + "/item_id", where the path is "line 3").
    """

    __slots__ = ("base", "children", "node", "path", "run")

    def __init__(self, run: Any, node: Any, path: str, base: str, children: Any = None) -> None:
        self.run = run
        self.node = node
        self.path = path
        self.base = base
        self.children = children


class Unreadable(Exception):
    """A value that cannot be converted, with the path of the offending value."""

    def __init__(self, error: ConversionError, path: str) -> None:
        self.error = error
        self.path = path


def present(raw: Raw | None) -> bool:
    """A value counts when it is not missing and not only white space."""
    return raw is not None and (not isinstance(raw, str) or bool(raw.strip()))


class Path(Protocol):
    """A compiled path. Values and contexts come with their source paths."""

    text: str
    key: str
    """The mapping key the path was given under (for lint and errors)."""

    def first(self, ctx: Context) -> tuple[Raw | None, str]:
        """The first present value and its path; None and :meth:`nearest` when none is."""

    def values(self, ctx: Context) -> list[tuple[Raw, str]]:
        """Every present value, in document order."""

    def contexts(self, ctx: Context, many: bool) -> list[Context]:
        """The nodes a table's path selects (``many``: list entries, always indexed)."""

    def exists(self, ctx: Context) -> bool:
        """Whether the path selects anything at all (detection)."""

    def nearest(self, ctx: Context) -> str:
        """Where a value the path does not find belongs: its deepest existing parent."""

    def list_path(self, ctx: Context) -> str:
        """The path of a list as a whole: what holds its entries."""

    def sum_path(self, ctx: Context) -> str:
        """The path a sum of the path's values is reported at."""


def as_text(value: Any) -> str | None:
    """A scalar from a document or the mapping file as text, for comparisons
    (``true``/``false`` for booleans); an object or a list has none."""
    if isinstance(value, dict | list):
        return None
    return convert.text(("true" if value else "false") if isinstance(value, bool) else value)
