"""Translation speed per operator: every accepted fixture replicated to ~N items in all.

``aedgw bench`` measures alpha only; the mapping engine reads five formats by different
routes (child steps, general XPath, JSON walks, NDJSON lines with per-line schema checks),
so this times each operator's own fixtures through ``gateway.ingest.adapt.translate`` (schema,
adapter, canonical rules; no database) against the parse floor of the same run, and alpha's
compiled mapping against the adapter written by hand in bench/alpha_by_hand.py (issue 9:
translate >= 0.25 x parse, compiled <= 1.5 x hand). Every replicated item gets a fresh
valid S10 id so that the duplicate check does not turn the run into a run of rejections.

    .venv/bin/python -m bench.translate_speed [--items 10000] [--repeat 5] [operator ...]
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
from bench.alpha_by_hand import AlphaByHand
from gateway import heap
from gateway.canonical import item_to_dict
from gateway.contract import Adapter, ItemError
from gateway.document import Document, Kind, iter_ndjson, parse
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


@dataclass(frozen=True)
class Measured:
    """One operator's figures: items per second of CPU time, the best of the rounds."""

    operator: str
    items: int
    accepted: int
    parse_s: float
    """the parse floor: the gateway's parser alone (lxml or the JSON parser)"""
    translate_s: float
    """parse + schema + adapter + canonical rules, as ``POST /v1/messages`` runs them"""
    adapter_s: float
    """the adapter alone, on parsed documents: the mapping engine's own share"""
    by_hand_s: float | None = None
    """alpha only: bench/alpha_by_hand.py on the same documents"""

    def rate(self, seconds: float) -> float:
        return self.items / seconds

    def row(self) -> str:
        hand = ""
        if self.by_hand_s:
            hand = f" {self.rate(self.by_hand_s):>15,.0f} {self.adapter_s / self.by_hand_s:>13.2f}"
        return (
            f"{self.operator:<9} {self.items:>6} {self.accepted:>8} "
            f"{self.rate(self.parse_s):>13,.0f} {self.rate(self.translate_s):>17,.0f} "
            f"{self.parse_s / self.translate_s:>8.3f} {self.rate(self.adapter_s):>15,.0f}{hand}"
        )


HEADER = (
    "operator   items accepted  parse items/s  translate items/s  x parse  adapter items/s"
    "  by hand items/s  compiled/hand"
)


def rounds(work: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """The best CPU time of each piece of work, the pieces interleaved round by round so
    that a busy machine slows them alike (process time: waiting for a core is not
    counted)."""
    best = dict.fromkeys(work, float("inf"))
    for _ in range(repeat):
        for name, run in work.items():
            started = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - started)
    return best


def measure(operator: str, total: int, repeat: int) -> Measured:
    registry = default_registry()
    adapters = registry.candidates(registry.formats_of(operator))
    built = messages(operator, total)
    docs = [parse(m.raw, m.content_type, m.headers) for m in built]

    def parse_only() -> None:
        for m in built:
            doc = parse(m.raw, m.content_type, m.headers)
            if doc.kind is Kind.NDJSON:
                for _ in iter_ndjson(doc):
                    pass

    def full() -> int:
        return sum(
            len(translate(parse(m.raw, m.content_type, m.headers), adapters).items) for m in built
        )

    def adapter_only(chosen: Adapter | None = None) -> None:
        for doc in docs:
            adapter = chosen or next(a for a in adapters if a.kind is doc.kind and a.detect(doc))
            for _ in adapter.translate(doc):
                pass

    work: dict[str, Callable[[], object]] = {
        "parse": parse_only,
        "translate": full,
        "adapter": adapter_only,
    }
    if operator == "alpha":
        by_hand = AlphaByHand()
        _same_output(docs, adapters, by_hand)
        work["by_hand"] = lambda: adapter_only(by_hand)
    heap.settle()  # as aedgw serve runs translation (gateway/heap.py)
    best = rounds(work, repeat)
    return Measured(
        operator,
        sum(m.items for m in built),
        full(),
        best["parse"],
        best["translate"],
        best["adapter"],
        best.get("by_hand"),
    )


def _same_output(docs: list[Document], adapters: list[Adapter], by_hand: Adapter) -> None:
    """The hand-written adapter is a fair yardstick only if it gives the same items."""
    for doc in docs:
        if not by_hand.detect(doc):
            continue
        mapping = next(a for a in adapters if a.kind is doc.kind and a.detect(doc))
        ours = [item_to_dict(i) for i in mapping.translate(doc) if not isinstance(i, ItemError)]
        theirs = [item_to_dict(i) for i in by_hand.translate(doc) if not isinstance(i, ItemError)]
        if ours != theirs:
            raise SystemExit("bench/alpha_by_hand.py and the alpha mapping disagree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("operators", nargs="*", default=list(SHAPES))
    parser.add_argument("--items", type=int, default=10_000, help="items per operator")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best one counts")
    args = parser.parse_args()
    print(HEADER)
    for operator in args.operators:
        print(measure(operator, args.items, args.repeat).row(), flush=True)


if __name__ == "__main__":
    main()
