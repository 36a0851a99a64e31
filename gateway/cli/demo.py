"""``aedgw demo``: the whole exchange on one machine in one command.

It starts the gateway (and so its console) on a throwaway embedded PostgreSQL (or
AEDGW_DATABASE_URL), a local targeting receiver that fails now and then (``--fail-rate``)
and refuses a few items for good (dead letters to look at), registers the five partner
operators, replays every fixture over HTTP with a progress bar, posts a few customs
decisions, waits for delivery to drain and prints what happened per operator. Then it
prints the console's URL and a demo admin key and serves until Ctrl-C or SIGTERM
(``--no-wait``: stop at once).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters.registry import default_registry
from gateway import audit, config, keys, operators, rollups
from gateway.cli.database import migrated_pool
from gateway.cli.local import scratch_database, start_site
from gateway.config import Retry, Target
from gateway.delivery.receiver import Faults, Receiver, create_receiver_app
from gateway.http.app import create_app
from gateway.keys import Scope
from gateway.logging import configure
from gateway.onboarding import cases
from gateway.operators import Profile
from gateway.store import Q

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OPERATORS = ("alpha", "beta", "gamma", "delta", "epsilon")
REFUSED = {"CP471820937GB", "EA281101016CN"}
"""Items the demo receiver refuses for good: dead letters for the console to show."""
DECISIONS = (("CP261128010TR", "DO_NOT_LOAD"), ("EA281101020CN", "HOLD"),
             ("CP471820937GB", "RELEASE"))


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "demo", help="run the gateway with a local receiver and replay every fixture"
    )
    cmd.add_argument("--fail-rate", type=float, default=0.2, help="receiver 5xx rate (0.2)")
    cmd.add_argument("--drain-timeout", type=float, default=60.0, help="seconds (60)")
    cmd.add_argument("--listen", help="host:port of the gateway and console (default: a free port)")
    cmd.add_argument("--no-wait", action="store_true",
                     help="stop after the summary instead of serving the console until Ctrl-C")
    cmd.set_defaults(run=run)


async def _demo(url: str, args: argparse.Namespace, console: Console) -> None:
    pool = await migrated_pool(url)
    keys_of = {}
    actor = audit.cli_actor()
    async with pool.acquire() as conn:
        for code in OPERATORS:
            if await operators.get(conn, code) is None:
                formats = tuple(default_registry().formats_of(code))
                await operators.add(conn, Profile(code, code, formats), actor)
            keys_of[code] = (await keys.issue(conn, Scope.OPERATOR, code, actor))[1]
        _, targeting_key = await keys.issue(conn, Scope.TARGETING, "demo", actor)
        _, admin_key = await keys.issue(conn, Scope.ADMIN, "demo", actor)
    receiver = Receiver(Faults(fail_rate=args.fail_rate, reject=set(REFUSED)), seed=1)
    receiver_runner, receiver_url = await start_site(create_receiver_app(receiver))
    retry = Retry(max_attempts=20, base_delay_s=0.1, max_delay_s=1.0)
    settings = config.Settings(
        log_format="json",
        log_level="warning",
        targets=[Target(name="demo", url=receiver_url + "/", batch_size=50, retry=retry)],
    )
    listen = config.Settings(listen=args.listen) if args.listen else None
    gateway_runner, gateway_url = await start_site(
        create_app(settings, url), *((listen.host, listen.port) if listen else ())
    )
    console.print(f"gateway {gateway_url}  receiver {receiver_url}  database {url}")
    statuses: dict[str, Counter[str]] = {code: Counter() for code in OPERATORS}
    items: dict[str, Counter[str]] = {code: Counter() for code in OPERATORS}
    fixtures = [case for code in OPERATORS for case in cases(FIXTURES, code)]
    try:
        async with aiohttp.ClientSession() as session:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("replaying fixtures", total=len(fixtures))
                for case in fixtures:
                    headers = {
                        "Authorization": f"Bearer {keys_of[case.operator]}",
                        "Content-Type": case.content_type,
                        **case.headers,
                    }
                    async with session.post(
                        gateway_url + "/v1/messages",
                        data=case.source.read_bytes(),
                        headers=headers,
                    ) as response:
                        statuses[case.operator][str(response.status)] += 1
                        if response.content_type == "application/json":
                            counts = (await response.json()).get("items") or {}
                            items[case.operator].update(counts)
                    progress.advance(task)
            await _decide(session, gateway_url, targeting_key)
        delivered = await _drain(pool, args.drain_timeout, console)
        await rollups.ensure(pool, rollups.today())
        _report(console, statuses, items, delivered, receiver)
        print(f"console   {gateway_url}/console", flush=True)
        print(f"admin key {admin_key}", flush=True)
        if not args.no_wait:
            print("paste the key into the console's login form; Ctrl-C stops the demo",
                  flush=True)
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()
    finally:
        await gateway_runner.cleanup()
        await receiver_runner.cleanup()
        await pool.close()


async def _decide(session: aiohttp.ClientSession, gateway_url: str, key: str) -> None:
    """A few customs decisions, as targeting would post them."""
    for n, (item_id, code) in enumerate(DECISIONS, 1):
        async with session.post(
            gateway_url + "/v1/decisions",
            json={"item_id": item_id, "code": code, "reference": f"DEMO-{n}"},
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            await response.read()


async def _drain(pool: asyncpg.Pool, timeout: float, console: Console) -> dict[str, int]:
    """Wait until nothing is pending or in flight; return outbox rows per state."""
    deadline = time.monotonic() + timeout
    with console.status("delivering to the receiver …"):
        while True:
            rows = await pool.fetch(Q.outbox_states)
            by_state = {r["state"]: r["n"] for r in rows}
            if not by_state.get("pending") and not by_state.get("in_flight"):
                return by_state
            if time.monotonic() > deadline:
                console.print("[yellow]delivery still running at the drain timeout[/]")
                return by_state
            await asyncio.sleep(0.2)


def _report(
    console: Console,
    statuses: dict[str, Counter[str]],
    items: dict[str, Counter[str]],
    delivered: dict[str, int],
    receiver: Receiver,
) -> None:
    table = Table("operator", "HTTP answers", "items accepted", "unchanged", "rejected")
    for code in OPERATORS:
        answers = ", ".join(f"{n}× {status}" for status, n in sorted(statuses[code].items()))
        counts = items[code]
        table.add_row(
            code,
            answers,
            str(counts["accepted"]),
            str(counts["unchanged"]),
            str(counts["rejected"]),
        )
    console.print(table)
    summary = receiver.summary()
    console.print(
        f"outbox: {delivered}; the receiver kept {summary['unique']} record revisions "
        f"after answers {dict(receiver.outcomes)}"
    )


def run(args: argparse.Namespace) -> int:
    configure("console", "error")  # the demo's own output tells the story
    console = Console()
    with scratch_database(config.load(args.config), "aedgw-demo-") as url:
        try:
            asyncio.run(_demo(url, args, console))
        except KeyboardInterrupt:
            print("demo stopped", file=sys.stderr)
        except OSError as exc:  # the --listen port is taken, say
            print(f"aedgw: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return 0
