"""``aedgw receiver``: the fake targeting receiver, for the demo and for trying faults
by hand (``curl -d '{"fail_rate": 1}' localhost:9090/control`` starts an outage)."""

from __future__ import annotations

import argparse

from aiohttp import web

from gateway.delivery.receiver import Faults, Receiver, create_receiver_app


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "receiver", help="run a fake targeting receiver that can be told to fail"
    )
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--port", type=int, default=9090)
    cmd.add_argument("--fail-rate", type=float, default=0.0, help="share of 503 answers")
    cmd.add_argument(
        "--timeout-rate", type=float, default=0.0, help="share kept but never answered"
    )
    cmd.add_argument("--drop-rate", type=float, default=0.0, help="share of dropped connections")
    cmd.add_argument("--throttle-rate", type=float, default=0.0, help="share of 429 answers")
    cmd.add_argument("--retry-after", type=int, default=1, help="Retry-After of a 429, seconds")
    cmd.add_argument("--hang", type=float, default=30.0, help="seconds a timeout hangs")
    cmd.add_argument(
        "--reject", nargs="+", default=[], metavar="ITEM_ID",
        help="item ids refused with a 422 naming their records",
    )
    cmd.add_argument(
        "--plain-reject", action="store_true", help="refuse without naming the records"
    )
    cmd.add_argument("--seed", type=int, default=0, help="seed of the fault die (default 0)")
    cmd.add_argument(
        "--ids-only", action="store_true",
        help="keep only (record_id, revision) pairs, not the records (for benchmarks)",
    )
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    faults = Faults(
        fail_rate=args.fail_rate,
        timeout_rate=args.timeout_rate,
        drop_rate=args.drop_rate,
        throttle_rate=args.throttle_rate,
        retry_after_s=args.retry_after,
        hang_s=args.hang,
        reject=set(args.reject),
        partial=not args.plain_reject,
    )
    app = create_receiver_app(Receiver(faults, seed=args.seed, keep_records=not args.ids_only))
    print(f"receiving on http://{args.host}:{args.port}/ (GET /received, POST /control)")
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0
