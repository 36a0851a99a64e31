"""Limits that keep one operator from starving the rest (issue 13, point 1): requests
per second and in flight per operator (429), body memory per process (503), a body
deadline and minimum upload rate (408), a cap on open connections (503), per-operator
overrides reaching a running gateway without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientResponse, web

from gateway import audit, config, operators
from gateway.config import ConfigError, Limits, Settings
from gateway.http.app import create_app
from gateway.http.limits import listen
from gateway.limits import OperatorLimiter, Refused, Share, UploadPace, check
from tests.conftest import FIXTURES, bearer
from tests.test_cli import aedgw

BATCH = (FIXTURES / "alpha" / "v11-batch-3.xml").read_bytes()
OUTCOMES = "/v1/outcomes"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- the decisions, on a clock the test moves -----------------------------------------


def test_rate_is_a_token_bucket_with_one_second_of_burst() -> None:
    clock = Clock()
    limiter = OperatorLimiter(Limits(), workers=1, clock=clock)
    share = limiter.share(rate_per_s=2.0, concurrency=None)
    for _ in range(2):
        limiter.admit("alpha", share)
        limiter.release("alpha")
    with pytest.raises(Refused) as refused:
        limiter.admit("alpha", share)
    assert (refused.value.limit, refused.value.retry_after_s) == ("rate", 1)
    limiter.admit("beta", share)  # another operator has its own bucket
    clock.now += 0.5
    limiter.admit("alpha", share)  # half a second buys one request at 2/s


def test_concurrency_counts_requests_in_flight() -> None:
    limiter = OperatorLimiter(Limits(), workers=1, clock=Clock())
    share = limiter.share(rate_per_s=None, concurrency=2)
    limiter.admit("alpha", share)
    limiter.admit("alpha", share)
    with pytest.raises(Refused) as refused:
        limiter.admit("alpha", share)
    assert refused.value.limit == "concurrency"
    limiter.release("alpha")
    limiter.admit("alpha", share)


def test_limits_are_gateway_wide_and_divided_among_workers() -> None:
    limits = Limits(operator_requests_per_s=100, operator_concurrency=8)
    limiter = OperatorLimiter(limits, workers=4)
    assert limiter.share(None, None) == Share(25.0, 2)
    assert limiter.share(40.0, 2) == Share(10.0, 1)  # never below one request in flight


def test_a_body_must_keep_the_minimum_rate_after_the_grace() -> None:
    pace = UploadPace(started=0.0, timeout_s=300.0, min_bytes_per_s=1000.0)
    assert pace.deadline(0) == 5.0  # the grace
    assert pace.deadline(10_000) == 15.0  # 10 kB buy ten more seconds
    assert pace.deadline(10**9) == 300.0  # never past the body timeout
    assert "slower than 1000 bytes/s" in pace.refusal(3, 5.0).message
    assert "took over 300 s" in pace.refusal(3, 300.0).message


def test_settings_that_could_not_work_are_refused() -> None:
    check(Limits(), workers=1)
    with pytest.raises(ConfigError, match="body_memory_bytes"):
        check(Limits(body_memory_bytes=64 * 2**20), workers=2)
    with pytest.raises(ConfigError, match=r"limits\.operator_concurrency"):
        config.load(None, {"AEDGW_LIMITS__OPERATOR_CONCURRENCY": "0"})


def test_serve_refuses_unworkable_limits_in_one_line(tmp_path: Path) -> None:
    result = aedgw_env(["serve"], {"AEDGW_LIMITS__BODY_MEMORY_BYTES": "1000"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "limits.body_memory_bytes" in result.stderr


def aedgw_env(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True, text=True, env=base | env, cwd=cwd, timeout=60, check=False,
    )


# --- over HTTP -------------------------------------------------------------------------


async def set_policy(pool: asyncpg.Pool, code: str, **changes: object) -> None:
    async with pool.acquire() as conn:
        await operators.set_policy(
            conn, code, lambda p: replace(p, **changes), audit.cli_actor()
        )


async def test_rate_limit_answers_429_with_retry_after(client, add_operator, pool) -> None:
    alpha, beta = await add_operator("alpha"), await add_operator("beta")
    await set_policy(pool, "alpha", rate_per_s=0.1)  # one request, then one per 10 s
    assert (await client.get(OUTCOMES, headers=bearer(alpha))).status == 200
    response = await client.get(OUTCOMES, headers=bearer(alpha))
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 9
    body = await response.json()
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["details"] == {"limit": "rate"}
    assert (await client.get(OUTCOMES, headers=bearer(beta))).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'aedgw_requests_limited_total{limit="rate",operator="alpha"}' in metrics


async def test_an_override_reaches_a_running_gateway(client, add_operator, database_url):
    key = await add_operator("alpha")
    for _ in range(20):  # the default never throttles this
        assert (await client.get(OUTCOMES, headers=bearer(key))).status == 200
    changed = await asyncio.to_thread(
        aedgw, "operators", "set", "alpha", "--rate", "0.1", database_url=database_url
    )
    assert changed.returncode == 0, changed.stderr
    statuses = []
    for _ in range(100):  # the NOTIFY reaches the gateway's listener asynchronously
        statuses.append((await client.get(OUTCOMES, headers=bearer(key))).status)
        if statuses[-1] == 429:
            break
        await asyncio.sleep(0.05)
    assert statuses[-1] == 429
    back = await asyncio.to_thread(
        aedgw, "operators", "set", "alpha", "--rate", "default", database_url=database_url
    )
    assert back.returncode == 0, back.stderr


Upload = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def held_upload(client, key: str) -> Upload:
    """A POST of the alpha batch over a raw socket whose body stops after 100 bytes
    (send the rest with :func:`finish_upload`): what the client sent is certain."""
    return await raw_request(client.port, message_head(key, len(BATCH)) + BATCH[:100])


async def refused_while_held(
    client, key: str, probe: Callable[[], Awaitable[ClientResponse]], status: int
) -> tuple[Upload, ClientResponse]:
    """Hold an upload of ``key`` and ``probe`` until the probe is refused with ``status``.
    When the probe got in first and the upload was the one refused, send it again."""
    upload = await held_upload(client, key)
    for _ in range(300):  # seconds on a busy machine
        try:
            await asyncio.wait_for(upload[0].read(1), timeout=0.05)
        except TimeoutError:  # no answer: the upload is held
            response = await probe()
            if response.status == status:
                return upload, response
            continue
        upload[1].close()  # answered already: it lost the race to a probe
        upload = await held_upload(client, key)
    raise AssertionError("the probe was never refused")


async def finish_upload(upload: Upload) -> bytes:
    reader, writer = upload
    writer.write(BATCH[100:])
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=60)
    writer.close()
    return answer


async def test_concurrency_limit_holds_a_slot_for_a_request_in_flight(
    client, add_operator, pool
) -> None:
    alpha, beta = await add_operator("alpha"), await add_operator("beta")
    await set_policy(pool, "alpha", concurrency=1)
    upload, response = await refused_while_held(
        client, alpha, lambda: client.get(OUTCOMES, headers=bearer(alpha)), 429
    )
    assert (await response.json())["error"]["details"] == {"limit": "concurrency"}
    assert response.headers["Retry-After"] == "1"
    assert (await client.get(OUTCOMES, headers=bearer(beta))).status == 200
    assert (await finish_upload(upload)).startswith(b"HTTP/1.1 202")
    assert (await client.get(OUTCOMES, headers=bearer(alpha))).status == 200


async def test_body_memory_is_bounded_per_process(make_client, add_operator) -> None:
    size = len(BATCH)
    client = await make_client(limits=Limits(max_body_bytes=size, body_memory_bytes=size + 100))
    alpha, beta = await add_operator("alpha"), await add_operator("beta")
    upload, response = await refused_while_held(
        client,
        alpha,
        lambda: client.post(
            "/v1/messages", data=BATCH, headers=bearer(beta, **{"Content-Type": "text/xml"})
        ),
        503,
    )
    assert response.headers["Retry-After"] == "2"
    body = await response.json()
    assert body["error"]["code"] == "overloaded"
    assert body["error"]["details"] == {"limit": "body_memory"}
    assert (await finish_upload(upload)).startswith(b"HTTP/1.1 202")
    status = (await client.post(
        "/v1/messages", data=BATCH, headers=bearer(beta, **{"Content-Type": "text/xml"})
    )).status
    assert status == 422  # memory given back: beta's request is processed (alpha's format)


async def raw_request(port: int, head: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    return reader, writer


def message_head(key: str, length: int) -> bytes:
    return (
        f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/xml\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def test_a_body_past_its_deadline_is_answered_408_and_the_connection_closed(
    make_client, add_operator
) -> None:
    client = await make_client(limits=Limits(body_timeout_s=1.0))
    key = await add_operator("alpha")
    reader, writer = await raw_request(client.port, message_head(key, len(BATCH)) + BATCH[:50])
    answer = await asyncio.wait_for(reader.read(), timeout=30)  # read() ends at the close
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code":"request_timeout"' in answer
    assert (await client.get("/healthz")).status == 200


async def test_a_trickling_body_is_refused_after_the_grace(make_client, add_operator) -> None:
    """One byte every half second: the client of the issue that held a connection for
    150 s+. It is answered 408 once it falls below the minimum rate after the grace."""
    client = await make_client(limits=Limits(min_upload_bytes_per_s=100.0))
    key = await add_operator("alpha")
    reader, writer = await raw_request(client.port, message_head(key, len(BATCH)))
    sent = 0
    answer = b""
    for byte in BATCH[:60]:  # 30 s at most; refused near 5 s
        writer.write(bytes([byte]))
        sent += 1
        try:
            answer = await asyncio.wait_for(reader.read(1), timeout=0.5)
        except TimeoutError:
            continue
        answer += await asyncio.wait_for(reader.read(), timeout=30)
        break
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"slower than 100 bytes/s" in answer
    assert sent < 60


async def test_connections_over_the_cap_are_answered_503(
    database_url: str, add_operator
) -> None:
    settings = Settings(listen="127.0.0.1:0", log_format="json", limits=Limits(max_connections=2))
    async with listening(create_app(settings, database_url)) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.1)  # both accepted and counted
        reader, writer = await raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), timeout=30)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"Retry-After: 2" in answer and b'"code":"overloaded"' in answer
        for _, held_writer in held:
            held_writer.close()
        for _ in range(100):  # the server notices the closes
            reader, writer = await raw_request(
                port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            answer = await asyncio.wait_for(reader.read(), timeout=30)
            writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                break
            await asyncio.sleep(0.05)
        assert answer.startswith(b"HTTP/1.1 200"), answer


@contextlib.asynccontextmanager
async def listening(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """``app`` served as ``aedgw serve`` serves it (capped, over TLS with ``ssl_context``)
    on a free port of 127.0.0.1, for the ``with`` block; yields the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    listener = await listen(runner, host="127.0.0.1", port=0, ssl_context=ssl_context)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        await runner.cleanup()
