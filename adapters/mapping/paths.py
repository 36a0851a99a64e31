"""A mapped path as plain data: where a value is, relative to the context it is read in.

Both syntaxes (:mod:`.xml_paths`, :mod:`.json_paths`) compile a path text into a
:class:`Steps` once, when the mapping loads: how many levels up it starts (``..``), then
the names it walks down, then (XML) an attribute. The reader generated for the mapping
(:mod:`.generate`) turns these steps into dictionary lookups; a path that is no plain walk
(an XPath with a predicate or a union) keeps its compiled lxml XPath in ``general``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EVERY = "*"
"""A JSON step that stands for every element of an array (or every value of an object)."""


@dataclass(frozen=True, slots=True)
class Steps:
    """One compiled path."""

    text: str
    """As written in the mapping file."""
    key: str
    """The mapping key it was given under (lint findings and load errors name it)."""
    up: int = 0
    """Leading ``..`` steps: levels above the context before walking down."""
    absolute: bool = False
    """From the document's root (NDJSON: the item's own line) instead of the context."""
    names: tuple[str, ...] = ()
    """XML: tags in Clark notation; JSON: keys, array indexes as digits, ``*``."""
    shown: tuple[str, ...] = ()
    """The names as source paths show them (XML local names, JSON Pointer escapes)."""
    attr: str | None = None
    """XML: the attribute read at the end of the walk."""
    general: Any = None
    """XML: the compiled lxml XPath of a path that is no plain walk; None otherwise."""
