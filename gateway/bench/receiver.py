"""A lean targeting receiver for the deliver scenario: it keeps only the
(record_id, revision) pairs and counts duplicates, so that it costs little CPU beside
the gateway it measures. ``python -m gateway.bench.receiver --port N``; ``GET /tally``.
"""

from __future__ import annotations

import argparse
import time

import orjson
from aiohttp import web

from gateway.bench.machine import new_event_loop
from gateway.delivery.receiver import envelopes


class Tally:
    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self.duplicates = 0
        self.batches = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        """When the first batch began to arrive and the last one was kept: the delivery
        window, free of the gateway's start-up time."""

    def keep(self, pairs: list[tuple[str, int]]) -> int:
        new = 0
        for key in pairs:
            if key in self.seen:
                self.duplicates += 1
            else:
                self.seen.add(key)
                new += 1
        self.batches += 1
        return new


TALLY = web.AppKey("tally", Tally)


async def receive(request: web.Request) -> web.Response:
    counts = request.app[TALLY]
    counts.first_at = counts.first_at or time.perf_counter()
    body = await request.read()
    # Only the envelope that leads each stored record is read (the whole body when the
    # scan does not account for every record): the receiver costs little beside the
    # gateway it measures.
    pairs = envelopes(body)
    if pairs is None:
        try:
            pairs = [(str(r["record_id"]), int(r["revision"]))
                     for r in orjson.loads(body)["records"]]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
    new = counts.keep(pairs)
    counts.last_at = time.perf_counter()
    return web.json_response({"accepted": new, "duplicates": len(pairs) - new})


async def tally(request: web.Request) -> web.Response:
    counts = request.app[TALLY]
    window = counts.last_at - counts.first_at if counts.first_at and counts.last_at else 0.0
    return web.json_response(
        {"unique": len(counts.seen), "duplicates": counts.duplicates, "batches": counts.batches,
         "window_s": window}
    )


def create_app() -> web.Application:
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app[TALLY] = Tally()
    app.router.add_post("/", receive)
    app.router.add_get("/tally", tally)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None,
                access_log=None, loop=new_event_loop())


if __name__ == "__main__":
    main()
