"""What a compiled XML mapping reads of an element's children, in one call.

The generated reader (:mod:`.generate`) asks once per element for everything its fields
use of that element's children: ``pick(element, spec)`` returns a tuple with one value
per entry of ``spec``. An entry is ``(href, local, mode, attr_href, attr)``: the first
child named ``{href}local`` (``href`` None: no namespace), read as ``mode`` says:

- ``NODE``: the child element itself, or None;
- ``TEXT``: its ``.text`` stripped, None when missing or blank;
- ``ATTR``: its attribute ``{attr_href}attr`` stripped, None when missing or blank;
- ``ALL``: every child of that name, in document order (a list).

A None element gives None (``ALL``: an empty list) for every entry. The C extension
``_pick`` does the same without a Python object per child (half of the reader's time
went into those); this module is its reference, used where it was not built (no C
compiler at install time) and by the tests that compare the two.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

NODE, TEXT, ATTR, ALL = 0, 1, 2, 3

Entry = tuple[str | None, str, int, str | None, str | None]


def entry(tag: str, mode: int, attr: str | None = None) -> Entry:
    """An entry from Clark names ("{href}local" or "local")."""
    href, local = _split(tag)
    attr_href, attr_local = _split(attr) if attr is not None else (None, None)
    return href, local, mode, attr_href, attr_local


def pick_in_python(parent: etree._Element | None, spec: tuple[Entry, ...]) -> tuple[Any, ...]:
    """The reference implementation (see the module's docstring)."""
    if parent is None:
        return tuple([] if mode == ALL else None for _, _, mode, _, _ in spec)
    first = {child.tag: child for child in reversed(parent)}  # one pass: the first wins
    out: list[Any] = []
    for href, local, mode, attr_href, attr in spec:
        tag = local if href is None else f"{{{href}}}{local}"
        if mode == ALL:
            out.append(list(parent.iterchildren(tag)))
            continue
        child = first.get(tag)
        if child is None or mode == NODE:
            out.append(child)
            continue
        if mode == TEXT:
            value = child.text
        else:
            assert attr is not None
            value = child.get(attr if attr_href is None else f"{{{attr_href}}}{attr}")
        out.append((value.strip() or None) if value is not None else None)
    return tuple(out)


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        href, _, local = tag[1:].partition("}")
        return href, local
    return None, tag


try:
    from adapters.mapping._pick import pick
except ImportError:  # built without a C compiler: the same results, slower
    pick = pick_in_python
