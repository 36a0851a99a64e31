"""A targeting receiver for tests and the demo, which can be told to misbehave.

``POST /`` takes ``{"records": [...]}`` and dedupes on (record_id, revision).
``GET /received`` reads back what it kept and counts; ``POST /control`` changes the faults at
run time (an outage, then recovery). One die is cast per request, in arrival order, from
a seeded generator, so a run is reproducible given the seed and the request order.

Faults, in this order of precedence for one roll: a dropped connection (the transport
is closed, nothing kept), a timeout (the records are kept, then no answer until
``hang_s``: the answer is lost), a 503, a 429 with Retry-After; then records whose
item id is in ``reject`` make a 422 naming them (or not, with ``partial`` off).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson
from aiohttp import web


@dataclass(slots=True)
class Faults:
    fail_rate: float = 0.0
    timeout_rate: float = 0.0
    drop_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after_s: int = 1
    hang_s: float = 30.0
    reject: set[str] = field(default_factory=set)
    """Item ids refused with a 422, whatever else is in the batch."""
    partial: bool = True
    """Name the refused records in the 422 (else a bare 422: the sender must bisect)."""
    dwell_s: float = 0.0
    """Time each request spends "processing", to make overlapping deliveries visible."""

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}")
            kind = type(getattr(self, name))
            setattr(self, name, set(value) if kind is set else kind(value))


class Receiver:
    """What arrived, the faults, and the die."""

    def __init__(
        self, faults: Faults | None = None, seed: int | None = 0, *, keep_records: bool = True
    ) -> None:
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self.keep_records = keep_records
        """False: keep only (record_id, revision) pairs, as a benchmark's receiver does."""
        self.records: dict[tuple[str, int], dict[str, Any] | None] = {}
        self.deliveries: Counter[tuple[str, int]] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.idempotency_keys: set[str] = set()
        self.encodings: Counter[str] = Counter()
        """Requests per Content-Encoding ("identity" when none)."""
        self.max_concurrent = 0
        self._in_progress: Counter[str] = Counter()
        self._closing = asyncio.Event()

    def summary(self) -> dict[str, Any]:
        return {
            "records": [r for r in self.records.values() if r is not None],
            "unique": len(self.records),
            "deliveries": sum(self.deliveries.values()),
            "duplicates": sum(self.deliveries.values()) - len(self.deliveries),
            "requests": dict(self.outcomes),
            "idempotency_keys": len(self.idempotency_keys),
            "max_concurrent": self.max_concurrent,
            "faults": asdict(self.faults) | {"reject": sorted(self.faults.reject)},
        }

    def read(self, body: bytes) -> list[dict[str, Any]]:
        """The records of a batch. Keeping only pairs and refusing none, the receiver reads
        no more than the pairs (a benchmark's receiver should not cost more than the
        gateway it measures): found in the envelope that leads each stored record, and
        the whole body parsed when the scan does not account for every record."""
        if not self.keep_records and not self.faults.reject:
            pairs = envelopes(body)
            if pairs is not None:
                return [{"record_id": rid, "revision": rev} for rid, rev in pairs]
        return orjson.loads(body)["records"]

    def keep(self, records: list[dict[str, Any]]) -> int:
        """Store records not seen before; returns how many were new."""
        new = 0
        for record in records:
            key = (str(record["record_id"]), int(record["revision"]))
            if key not in self.records:
                self.records[key] = record if self.keep_records else None
                new += 1
            self.deliveries[key] += 1
        return new

    async def dwell(self, records: list[dict[str, Any]]) -> None:
        """Count how many requests carry each record at the same time while "processing"."""
        if not self.faults.dwell_s:
            return
        ids = [str(r["record_id"]) for r in records]
        for record_id in ids:
            self._in_progress[record_id] += 1
            self.max_concurrent = max(self.max_concurrent, self._in_progress[record_id])
        try:
            await asyncio.sleep(self.faults.dwell_s)
        finally:
            for record_id in ids:
                self._in_progress[record_id] -= 1

    async def hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.faults.hang_s)

    def close(self) -> None:
        self._closing.set()


RECEIVER = web.AppKey("receiver", Receiver)
_BATCH = b'{"records":['
_ENVELOPE = re.compile(rb'"record_id":"([^"\\]+)","canonical_version":"[^"\\]*","revision":(\d+)')


def envelopes(body: bytes) -> list[tuple[str, int]] | None:
    """The (record_id, revision) of each record of a pushed batch, read from the envelope
    that leads every stored record, without parsing the rest; None when the scan does
    not account for every record (the caller then parses the body)."""
    if not body.startswith(_BATCH):
        return None
    found = _ENVELOPE.findall(body)
    if not found or len(found) != body.count(b'"record_id":'):
        return None
    return [(rid.decode(), int(rev)) for rid, rev in found]


async def receive(request: web.Request) -> web.StreamResponse:
    receiver = request.app[RECEIVER]
    try:
        records = receiver.read(await request.read())
        if not all(isinstance(r, dict) and "record_id" in r and "revision" in r for r in records):
            raise ValueError("a record without record_id or revision")
    except (ValueError, KeyError, TypeError) as exc:
        receiver.outcomes["bad_request"] += 1
        return web.json_response({"error": str(exc)}, status=400)
    if key := request.headers.get("Idempotency-Key"):
        receiver.idempotency_keys.add(key)
    receiver.encodings[request.headers.get("Content-Encoding", "identity")] += 1
    await receiver.dwell(records)
    faults, roll = receiver.faults, receiver.rng.random()
    if (roll := roll - faults.drop_rate) < 0:
        receiver.outcomes["dropped"] += 1
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)  # never reaches the client
    if (roll := roll - faults.timeout_rate) < 0:
        receiver.outcomes["timeout"] += 1
        receiver.keep(records)
        await receiver.hang()
        return web.Response(status=504)
    if (roll := roll - faults.fail_rate) < 0:
        receiver.outcomes["failed"] += 1
        return web.json_response({"error": "simulated outage"}, status=503)
    if roll - faults.throttle_rate < 0:
        receiver.outcomes["throttled"] += 1
        return web.json_response(
            {"error": "slow down"}, status=429, headers={"Retry-After": str(faults.retry_after_s)}
        )
    refused = [r for r in records if r.get("item_id") in faults.reject]
    if refused:
        receiver.outcomes["rejected"] += 1
        if not faults.partial:
            return web.json_response({"error": "a record was refused"}, status=422)
        reasons = [{"record_id": r["record_id"], "reason": "refused by the test receiver"}
                   for r in refused]
        return web.json_response({"rejected": reasons}, status=422)
    receiver.outcomes["accepted"] += 1
    new = receiver.keep(records)
    return web.json_response({"accepted": new, "duplicates": len(records) - new})


async def received(request: web.Request) -> web.Response:
    """What arrived; ``?records=false`` leaves out the bodies (counts only)."""
    summary = request.app[RECEIVER].summary()
    if request.query.get("records") == "false":
        del summary["records"]
    return web.json_response(summary, dumps=_dumps)


async def control(request: web.Request) -> web.Response:
    """Change faults (any field of ``Faults``), ``seed`` the die, or ``reset`` the store."""
    receiver = request.app[RECEIVER]
    changes = orjson.loads(await request.read() or b"{}")
    if "seed" in changes:
        receiver.rng.seed(changes.pop("seed"))
    if changes.pop("reset", False):
        receiver.records.clear()
        receiver.deliveries.clear()
        receiver.outcomes.clear()
        receiver.max_concurrent = 0
    try:
        receiver.faults.update(changes)
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(asdict(receiver.faults), dumps=_dumps)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=sorted).decode()


def create_receiver_app(receiver: Receiver | None = None) -> web.Application:
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app[RECEIVER] = receiver or Receiver()

    async def on_shutdown(app: web.Application) -> None:
        app[RECEIVER].close()

    app.on_shutdown.append(on_shutdown)
    app.router.add_post("/", receive)
    app.router.add_get("/received", received)
    app.router.add_post("/control", control)
    return app
