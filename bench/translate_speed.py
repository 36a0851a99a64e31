"""Translation speed per operator: every accepted fixture replicated to ~N items in all.

``aedgw bench`` measures alpha only; the mapping engine reads five formats by different
routes (child steps, general XPath, JSON walks, NDJSON lines with per-line schema checks),
so this times each operator's own fixtures through ``gateway.ingest.adapt.translate`` (schema,
adapter, canonical rules; no database). Every replicated item gets a fresh valid S10 id so
that the duplicate check does not turn the run into a run of rejections.

    .venv/bin/python bench/translate_speed.py [--items 10000] [--repeat 3] [operator ...]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

from adapters.registry import default_registry
from gateway.document import Document, Kind, parse
from gateway.ingest.adapt import translate
from gateway.s10 import check_digit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass(frozen=True)
class Shape:
    """Where one operator's items and item ids are, to replicate them."""

    items: str
    """XML: an XPath (local names) to the items; JSON: the key of the item array."""
    item_id: str
    """The item id's element local name or JSON key."""


SHAPES = {
    "alpha": Shape("//*[local-name()='Items']/*[local-name()='Item']", "ItemId"),
    "beta": Shape("/Items/Item", "ItemId"),
    "gamma": Shape("parcels", "trackingNo"),
    "delta": Shape("", "item_id"),
    "epsilon": Shape("//*[local-name()='SubmitItems']/*[local-name()='Item']", "Barcode"),
}


class Ids:
    """Fresh valid S10 ids that keep the original's service indicator and country."""

    def __init__(self) -> None:
        self.serial = 20_000_000

    def __call__(self, old: Any) -> str:
        self.serial += 1
        digits = f"{self.serial:08d}"
        old = str(old or "XX00000000XX")
        return f"{old[:2]}{digits}{check_digit(digits)}{old[-2:]}"


def replicate_xml(doc: Document, shape: Shape, count: int, ids: Ids) -> bytes:
    """Written back in UTF-8, whatever the fixture's charset."""
    root = doc.root
    items = root.xpath(shape.items)
    parent = items[0].getparent()
    for old in items:
        parent.remove(old)
    for n in range(count):
        item = copy.deepcopy(items[n % len(items)])
        for ident in item.xpath(f"*[local-name()='{shape.item_id}']"):
            ident.text = ids(ident.text)
        parent.append(item)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def replicate_json(doc: Document, shape: Shape, count: int, ids: Ids) -> bytes:
    root = orjson.loads(doc.raw)  # numbers as JSON numbers, not the gateway's Decimals
    items = root[shape.items]
    copies = [items[n % len(items)] for n in range(count)]
    root[shape.items] = [item | {shape.item_id: ids(item.get(shape.item_id))} for item in copies]
    return orjson.dumps(root)


def replicate_ndjson(doc: Document, shape: Shape, count: int, ids: Ids) -> bytes:
    header, *items = [orjson.loads(line) for line in doc.raw.splitlines() if line.strip()]
    lines = [orjson.dumps(header | {"item_count": count})]
    for n in range(count):
        item = items[n % len(items)]
        lines.append(orjson.dumps(item | {shape.item_id: ids(item.get(shape.item_id))}))
    return b"\n".join(lines) + b"\n"


REPLICATE: dict[Kind, Callable[[Document, Shape, int, Ids], bytes]] = {
    Kind.XML: replicate_xml,
    Kind.JSON: replicate_json,
    Kind.NDJSON: replicate_ndjson,
}


@dataclass(frozen=True)
class Message:
    raw: bytes
    content_type: str
    headers: dict[str, str]
    items: int


def messages(operator: str, total: int) -> list[Message]:
    """The operator's accepted fixtures, each replicated to its share of ``total`` items."""
    accepted = []
    for expected_file in sorted((FIXTURES / operator).glob("*.expected.json")):
        expected = orjson.loads(expected_file.read_bytes())
        if expected["http_status"] == 202:
            stem = expected_file.name.removesuffix(".expected.json")
            source = next(p for p in expected_file.parent.glob(stem + ".*") if p != expected_file)
            request = expected["request"]
            headers = request.get("headers") or {}
            accepted.append(parse(source.read_bytes(), request["content_type"], headers))
    ids, share = Ids(), -(-total // len(accepted))
    return [
        Message(
            REPLICATE[doc.kind](doc, SHAPES[operator], share, ids),
            doc.media_type,  # the charset is gone: replicas are UTF-8
            dict(doc.headers),
            share,
        )
        for doc in accepted
    ]


def best_seconds(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


@dataclass(frozen=True)
class Measured:
    operator: str
    items: int
    accepted: int
    translate_s: float
    """parse + schema + adapter + canonical rules, as ``POST /v1/messages`` runs them"""
    adapter_s: float
    """the adapter alone, on parsed documents: the mapping engine's own share"""

    def row(self) -> str:
        return (
            f"{self.operator:<9} {self.items:>6} {self.accepted:>8} "
            f"{self.items / self.translate_s:>18,.0f} {self.items / self.adapter_s:>16,.0f}"
        )


HEADER = "operator   items accepted  translate items/s  adapter items/s"


def measure(operator: str, total: int, repeat: int) -> Measured:
    registry = default_registry()
    adapters = registry.candidates(registry.formats_of(operator))
    built = messages(operator, total)
    docs = [parse(m.raw, m.content_type, m.headers) for m in built]

    def full() -> int:
        return sum(
            len(translate(parse(m.raw, m.content_type, m.headers), adapters).items) for m in built
        )

    def adapter_only() -> None:
        for doc in docs:
            adapter = next(a for a in adapters if a.kind is doc.kind and a.detect(doc))
            for _ in adapter.translate(doc):
                pass

    return Measured(
        operator,
        sum(m.items for m in built),
        full(),
        best_seconds(full, repeat),
        best_seconds(adapter_only, repeat),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("operators", nargs="*", default=list(SHAPES))
    parser.add_argument("--items", type=int, default=10_000, help="items per operator")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best one counts")
    args = parser.parse_args()
    print(HEADER)
    for operator in args.operators:
        print(measure(operator, args.items, args.repeat).row(), flush=True)


if __name__ == "__main__":
    main()
