"""``aedgw bench``: measured ingest throughput, with floors measured in the same run.

It builds Alpha Post v11 messages of N items from the fixture's items (fresh valid S10
ids), then measures, on this machine and in this run: lxml parsing (the floor every
gateway pays), XSD validation, the whole translation (adapter + canonical rules), and
the end-to-end HTTP ingest into PostgreSQL (embedded unless AEDGW_DATABASE_URL is set).
Ratios are against the parse floor, so numbers from different machines compare.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from lxml import etree
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters.registry import default_registry
from gateway import audit, config, keys, operators
from gateway.cli.database import migrated_pool
from gateway.cli.local import scratch_database, start_site
from gateway.cli.output import emit_json
from gateway.document import parse
from gateway.http.app import create_app
from gateway.ingest.adapt import translate
from gateway.keys import Scope
from gateway.operators import Profile
from gateway.s10 import check_digit
from gateway.schemas import validate_xml

NS = "urn:alphapost:itmatt:11"
SEED = Path(__file__).resolve().parents[2] / "fixtures" / "alpha" / "v11-batch-3.xml"


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("bench", help="measure ingest throughput on this machine")
    cmd.add_argument("--items", type=int, default=20_000, help="items in all (default 20000)")
    cmd.add_argument("--batch", type=int, default=1_000, help="items per message (default 1000)")
    cmd.add_argument("--concurrency", type=int, default=4, help="messages in flight (default 4)")
    cmd.add_argument("--json", action="store_true", help="print the results as JSON")
    cmd.set_defaults(run=run)


def make_messages(total: int, batch: int, seed: Path = SEED) -> list[bytes]:
    """Alpha v11 messages of ``batch`` items each, items copied round-robin from the seed,
    every id a fresh valid S10 and every message a fresh reference."""
    tree = etree.parse(str(seed))
    templates = tree.getroot().findall(f"{{{NS}}}Items/{{{NS}}}Item")
    messages, serial = [], 10_000_000
    for number in range(0, total, batch):
        root = copy.deepcopy(tree.getroot())
        root.find(f"{{{NS}}}Header/{{{NS}}}MessageRef").text = f"BENCH-{time.time_ns()}-{number}"
        items = root.find(f"{{{NS}}}Items")
        for old in list(items):
            items.remove(old)
        for i in range(min(batch, total - number)):
            item = copy.deepcopy(templates[i % len(templates)])
            ident = item.find(f"{{{NS}}}ItemId")
            serial += 1
            digits = f"{serial:08d}"
            ident.text = f"{ident.text[:2]}{digits}{check_digit(digits)}GB"
            phone = item.find(f"{{{NS}}}Addressee/{{{NS}}}Phone")
            if phone is not None:  # addressees differ on real traffic: no cache flattery
                phone.text = f"{phone.text[:-2]}{serial % 100:02d}"
            items.append(item)
        messages.append(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return messages


@dataclass
class Result:
    stage: str
    items: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def _timed(stage: str, items: int, work: Callable[[], object]) -> Result:
    started = time.perf_counter()
    work()
    return Result(stage, items, time.perf_counter() - started)


def cpu_stages(messages: list[bytes], items: int) -> list[Result]:
    adapters = default_registry().candidates(default_registry().formats_of("alpha"))
    roots = [etree.fromstring(m) for m in messages]
    return [
        _timed("parse (lxml, the floor)", items, lambda: [etree.fromstring(m) for m in messages]),
        _timed(
            "XSD validation (libxml2)",
            items,
            lambda: [validate_xml("alpha-itmatt-11.xsd", r) for r in roots],
        ),
        _timed(
            "translate (parse + schema + adapter + rules)",
            items,
            lambda: [translate(parse(m, "application/xml"), adapters) for m in messages],
        ),
    ]


async def http_stage(url: str, messages: list[bytes], items: int, concurrency: int) -> Result:
    """POST every message to a gateway on a real socket, ``concurrency`` at a time."""
    pool = await migrated_pool(url)
    async with pool.acquire() as conn:
        if await operators.get(conn, "alpha") is None:
            await operators.add(
                conn, Profile("alpha", "Alpha Post", ("alpha-itmatt",)), audit.cli_actor()
            )
        _, key = await keys.issue(conn, Scope.OPERATOR, "alpha", audit.cli_actor())
    await pool.close()
    settings = config.Settings(log_format="json", log_level="warning")
    runner, base = await start_site(create_app(settings, url))
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/xml"}
    with Progress(transient=True) as progress:
        task = progress.add_task("POST /v1/messages", total=len(messages))
        async with aiohttp.ClientSession() as session:

            async def sender() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    async with session.post(
                        f"{base}/v1/messages", data=body, headers=headers
                    ) as response:
                        if response.status != 202:
                            raise RuntimeError(f"{response.status}: {await response.text()}")
                    progress.advance(task)

            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(concurrency)))
            seconds = time.perf_counter() - started
    await runner.cleanup()
    return Result(f"HTTP ingest into PostgreSQL ({concurrency} in flight)", items, seconds)


def run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    console = Console(stderr=True)
    console.print(f"building {args.items} items in messages of {args.batch} …")
    messages = make_messages(args.items, args.batch)
    results = cpu_stages(messages, args.items)
    with scratch_database(settings, "aedgw-bench-") as url:
        results.append(asyncio.run(http_stage(url, messages, args.items, args.concurrency)))
    floor = results[0].rate
    if args.json:
        emit_json(
            [
                {
                    "stage": r.stage,
                    "items": r.items,
                    "seconds": round(r.seconds, 3),
                    "items_per_s": round(r.rate),
                    "ratio_to_parse": round(r.rate / floor, 3),
                }
                for r in results
            ]
        )
        return 0
    table = Table("stage", "items", "seconds", "items/s", "× parse floor")
    for r in results:
        table.add_row(
            r.stage, str(r.items), f"{r.seconds:.2f}", f"{r.rate:,.0f}", f"{r.rate / floor:.3f}"
        )
    Console().print(table)
    return 0
