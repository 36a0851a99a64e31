"""Paths into source documents, in the forms receipts use.

XML: XPath of local names with a 1-based ``[n]`` on every step whose parent has more
than one child of that name (``/ITMATT/Items/Item[3]/ItemId``). JSON: RFC 6901 pointers.
NDJSON: ``line N`` plus a pointer into that line.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree


def xml_path(elem: etree._Element) -> str:
    steps = []
    node: etree._Element | None = elem
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


def json_pointer(parts: Iterable[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def ndjson_path(line: int, parts: Iterable[str | int] = ()) -> str:
    pointer = json_pointer(parts)
    return f"line {line} {pointer}" if pointer else f"line {line}"
