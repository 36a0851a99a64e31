"""Messages for the bench: Alpha Post v11 batches and single items, delta NDJSON files.

Items are copied round-robin from accepted fixtures; every item id is a fresh valid S10
(the copy keeps the original's service indicator and country) and every message a fresh
reference, so nothing is a resend and the rules run on real-looking data.
"""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
from lxml import etree

from gateway.s10 import check_digit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ALPHA_SEED = FIXTURES / "alpha" / "v11-batch-3.xml"
DELTA_SEED = FIXTURES / "delta" / "good_batch.ndjson"
NS = "urn:alphapost:itmatt:11"


class Ids:
    """Fresh valid S10 ids and message references for one run (one operator)."""

    def __init__(self, tag: str, serial: int = 10_000_000) -> None:
        self.tag = tag
        self.serial = serial
        self.messages = 0

    def item(self, old: str) -> str:
        self.serial += 1
        digits = f"{self.serial:08d}"
        return f"{old[:2]}{digits}{check_digit(digits)}{old[-2:]}"

    def ref(self) -> str:
        self.messages += 1
        return f"BENCH-{self.tag}-{self.messages}"


class Alpha:
    """Alpha Post v11 messages of any size, built from the fixture's three items."""

    def __init__(self, ids: Ids, seed: Path = ALPHA_SEED) -> None:
        self.ids = ids
        self.tree = etree.parse(str(seed))
        self.items = self.tree.getroot().findall(f"{{{NS}}}Items/{{{NS}}}Item")
        self.next = 0

    def message(self, count: int) -> bytes:
        root = copy.deepcopy(self.tree.getroot())
        root.find(f"{{{NS}}}Header/{{{NS}}}MessageRef").text = self.ids.ref()
        items = root.find(f"{{{NS}}}Items")
        for old in list(items):
            items.remove(old)
        for _ in range(count):
            item = copy.deepcopy(self.items[self.next % len(self.items)])
            self.next += 1
            ident = item.find(f"{{{NS}}}ItemId")
            ident.text = self.ids.item(ident.text)
            phone = item.find(f"{{{NS}}}Addressee/{{{NS}}}Phone")
            if phone is not None:  # addressees differ on real traffic: no cache flattery
                phone.text = f"{phone.text[:-2]}{self.ids.serial % 100:02d}"
            items.append(item)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def messages(self, items: int, batch: int) -> list[bytes]:
        """``items`` in all, ``batch`` a message (the last one may be smaller)."""
        return [self.message(min(batch, items - done)) for done in range(0, items, batch)]


def delta_file(ids: Ids, lines: int, seed: Path = DELTA_SEED) -> bytes:
    """One delta NDJSON file: a header and ``lines`` item lines."""
    header, *items = [orjson.loads(line) for line in seed.read_bytes().splitlines() if line]
    out = [orjson.dumps(header | {"file_id": ids.ref(), "item_count": lines})]
    for n in range(lines):
        item = items[n % len(items)]
        out.append(orjson.dumps(item | {"item_id": ids.item(item["item_id"])}))
    return b"\n".join(out) + b"\n"
