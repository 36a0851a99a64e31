"""Stopping ``aedgw serve``: SIGTERM closes the listening socket, lets a message being
uploaded finish and answers it, lets target POSTs finish within ``shutdown_timeout_s``
and hands back the batches that cannot, and exits 0. After a SIGKILL, the next serve
adopts the embedded PostgreSQL left running and stops it when it stops."""

from __future__ import annotations

import asyncio
import signal
import socket
import urllib.request
import uuid
from pathlib import Path

import orjson
import psutil
import pytest

from gateway import audit, keys
from gateway.bench.messages import Alpha, Ids
from gateway.cli.local import start_site
from gateway.delivery.receiver import Faults, Receiver, create_receiver_app
from gateway.keys import Scope
from tests.conftest import FIXTURES
from tests.gateway_process import Gateway, clean_env, wait_until

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()


def gateway(workdir: Path, database_url: str, **settings: str) -> Gateway:
    env = clean_env(AEDGW_DATABASE_URL=database_url, AEDGW_DATA_DIR=str(workdir), **settings)
    return Gateway(env, workdir).start().wait_ready()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ")[1]), body


async def test_sigterm_during_a_large_message_answers_it_and_exits_0(
    workdir: Path, database_url: str, add_operator, pool
) -> None:
    key = await add_operator("alpha")
    body = Alpha(Ids("stop")).message(3000)
    server = gateway(workdir, database_url)
    try:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: gateway\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n".encode()
            + b"Content-Type: application/xml\r\nExpect: 100-continue\r\n\r\n"
        )
        # The gateway answers 100 Continue once the request has reached its handler.
        assert sock.recv(1024).startswith(b"HTTP/1.1 100")
        half = len(body) // 2
        sock.sendall(body[:half])
        server.signal(signal.SIGTERM)
        await wait_until(lambda: not server.accepts(), "the socket to close")
        sock.sendall(body[half:])
        status, answer = await asyncio.to_thread(read_response, sock)
        sock.close()
        assert status == 202, answer
        receipt = orjson.loads(answer)
        assert receipt["items"]["accepted"] == 3000
        assert await asyncio.to_thread(server.wait) == 0, server.output()
    finally:
        server.kill()
    stored = await pool.fetchval(
        "SELECT count(*) FROM records WHERE message_id = $1", uuid.UUID(receipt["message_id"])
    )
    assert stored == 3000
    assert '"event": "stopping"' in server.output()


@pytest.mark.parametrize(
    ("dwell_s", "hang", "shutdown_timeout_s", "finished"),
    [
        pytest.param(1.5, False, "30", True, id="the POST finishes within the deadline"),
        pytest.param(0.0, True, "1", False, id="the POST cut off goes back to the queue"),
    ],
)
async def test_sigterm_finishes_or_hands_back_target_posts(
    workdir: Path,
    database_url: str,
    add_operator,
    pool,
    dwell_s: float,
    hang: bool,
    shutdown_timeout_s: str,
    finished: bool,
) -> None:
    receiver = Receiver(Faults(dwell_s=dwell_s, timeout_rate=1.0 if hang else 0.0, hang_s=120))
    runner, receiver_url = await start_site(create_receiver_app(receiver))
    key = await add_operator("alpha")
    targets = orjson.dumps([{"name": "cbp", "url": receiver_url + "/", "timeout_s": 60}])
    server = gateway(
        workdir,
        database_url,
        AEDGW_TARGETS=targets.decode(),
        AEDGW_SHUTDOWN_TIMEOUT_S=shutdown_timeout_s,
    )
    try:
        await asyncio.to_thread(post_batch, server, key)
        await wait_until(
            lambda: pool.fetchval("SELECT count(*) = 3 FROM outbox WHERE state = 'in_flight'"),
            "the batch to be in flight",
        )
        claimed = await pool.fetch("SELECT id, batch_id, attempts FROM outbox ORDER BY id")
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0, server.output()
    finally:
        server.kill()
        receiver.close()
        await runner.cleanup()
    rows = await pool.fetch(
        "SELECT id, state, batch_id, attempts, lease_id, next_attempt_at <= now() AS due"
        " FROM outbox ORDER BY id"
    )
    if finished:
        assert [r["state"] for r in rows] == ["delivered"] * 3
        assert len(receiver.records) == 3
        return
    # Handed back: due now, in the same batch (the same Idempotency-Key when it is sent
    # again), the attempt that was cut off not counted.
    assert [r["state"] for r in rows] == ["pending"] * 3
    assert all(r["due"] and r["lease_id"] is None for r in rows)
    assert [(r["id"], r["batch_id"], r["attempts"] + 1) for r in rows] == [
        (c["id"], c["batch_id"], c["attempts"]) for c in claimed
    ]
    assert '"event": "delivery_released"' in server.output()


def post_batch(server: Gateway, key: str) -> None:
    request = urllib.request.Request(
        f"{server.url}/v1/messages",
        data=BATCH,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


def postmaster_pid(pg_dir: Path) -> int | None:
    pid_file = pg_dir / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def test_a_serve_that_adopts_an_orphaned_embedded_server_stops_it(workdir: Path) -> None:
    env = clean_env(AEDGW_DATA_DIR=str(workdir / "var"))
    pg_dir = workdir / "var" / "pg"
    first = Gateway(env, workdir).start().wait_ready()
    first.kill()  # SIGKILL: no cleanup runs, the embedded PostgreSQL keeps running
    orphan = postmaster_pid(pg_dir)
    assert orphan is not None and psutil.pid_exists(orphan)
    second = Gateway(env, workdir).start().wait_ready()
    try:
        assert postmaster_pid(pg_dir) == orphan, "the second serve adopts the running server"
        second.signal(signal.SIGTERM)
        assert second.wait() == 0, second.output()
    finally:
        second.kill()
    assert postmaster_pid(pg_dir) is None, "the adopted server was left running"
    assert gone(orphan), "the adopted server's process is still running"


def gone(pid: int, timeout_s: float = 30.0) -> bool:
    """The process has ended (pg_ctl's stop returns once the pid file is removed, a
    moment before the postmaster itself has exited)."""
    try:
        psutil.Process(pid).wait(timeout_s)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return False
    return True


async def test_a_stopping_server_answers_long_polls_at_once(make_client, pool) -> None:
    """Long polls hold no deadline hostage: a stop answers them with what there is."""
    async with pool.acquire() as conn:
        _, key = await keys.issue(conn, Scope.TARGETING, "cbp", audit.cli_actor())
    client = await make_client(shutdown_timeout_s=60.0)
    poll = asyncio.create_task(
        client.get("/v1/records?wait=30", headers={"Authorization": f"Bearer {key}"})
    )
    await asyncio.sleep(0.3)  # the poll is waiting
    await client.app.shutdown()
    # Well within the 30 s the poll asked to wait: the stop answered it.
    response = await asyncio.wait_for(poll, 20)
    assert response.status == 200
    assert (await response.json())["records"] == []
