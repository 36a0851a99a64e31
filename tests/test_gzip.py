"""``Content-Encoding: gzip`` over a real socket (issue 8, point 3): every member is
inflated; a stream that cannot be read whole is a 400 that says why, archived as the
bytes received; inflating happens off the event loop, within the process's body memory."""

from __future__ import annotations

import asyncio
import gzip
import time

import pytest

from tests.conftest import FIXTURES, bearer

DELTA = (FIXTURES / "delta" / "good_batch.ndjson").read_bytes()
GZIP_NDJSON = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
BOMB = gzip.compress(b"\x00" * (80 * 2**20), compresslevel=9)  # 80 MiB in ~80 KB


async def post(client, key: str, body: bytes, path: str = "/v1/messages"):
    response = await client.post(path, data=body, headers=bearer(key, **GZIP_NDJSON))
    return response.status, await response.json()


async def test_every_member_of_a_gzip_body_is_read(client, add_operator, pool) -> None:
    key = await add_operator("delta")
    lines = DELTA.splitlines(keepends=True)
    body = gzip.compress(b"".join(lines[:2])) + gzip.compress(b"".join(lines[2:]))
    status, receipt = await post(client, key, body)
    assert status == 202, receipt
    assert receipt["items"]["accepted"] == 3
    assert bytes(await pool.fetchval("SELECT raw FROM messages")) == DELTA


def _truncated(z: bytes) -> bytes:
    # The first two lines' worth: a prefix that parses (header and one item).
    return z[: len(z) * 2 // 3]


def _no_trailer(z: bytes) -> bytes:
    return z[:-8]


def _bad_crc(z: bytes) -> bytes:
    return z[:-8] + bytes(b ^ 0xFF for b in z[-8:-4]) + z[-4:]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(_truncated, "truncated"), (_no_trailer, "trailer"), (_bad_crc, "crc")],
)
async def test_a_gzip_body_not_read_whole_is_400_and_archived_as_received(
    client, add_operator, pool, damage, reason
) -> None:
    key = await add_operator("delta")
    body = damage(gzip.compress(DELTA))
    status, answer = await post(client, key, body)
    assert status == 400, answer
    assert answer["error"]["code"] == "unparseable"
    assert answer["error"]["details"] == {"encoding": "gzip", "reason": reason}
    assert await pool.fetchval("SELECT count(*) FROM records") == 0
    archived = await pool.fetchrow("SELECT raw, http_status, status FROM messages")
    assert (bytes(archived["raw"]), archived["http_status"], archived["status"]) == (
        body, 400, "rejected"
    )


async def test_gzip_bombs_inflate_off_the_loop_within_body_memory(
    client, add_operator
) -> None:
    """16 bombs at once (80 MiB each once inflated, over the 64 MiB limit): each one is
    refused (413, or 503 once the process's body memory is taken), the inflating does
    not stall the event loop, and the gateway then takes a good message."""
    key = await add_operator("delta")
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert (await client.get("/healthz")).status == 200
            lags.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)

    prober = asyncio.create_task(probe())
    answers = await asyncio.gather(*(post(client, key, BOMB) for _ in range(16)))
    done.set()
    await prober
    assert {status for status, _ in answers} <= {413, 503}, answers
    assert {a["error"]["code"] for _, a in answers} <= {"too_large", "overloaded"}
    assert lags and max(lags) < 1.0, sorted(lags)[-5:]
    status, receipt = await post(client, key, gzip.compress(DELTA))
    assert status == 202, receipt


async def test_a_large_gzip_body_is_inflated_off_the_event_loop(client, add_operator) -> None:
    """60 MiB inflated (and hashed) on the loop stalled every other request for the
    whole time; on threads, a step at a time, the loop keeps ticking."""
    key = await add_operator("delta")
    body = gzip.compress(b"\x00" * (60 * 2**20), compresslevel=9)
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    # A dry run, so that the archiving of the refusal (one 60 MiB insert) is not timed,
    # and XML, which libxml2 refuses at its first byte (NDJSON would decode a 60 MiB line).
    response = await client.post(
        "/v1/messages?dry_run=true",
        data=body,
        headers=bearer(key, **{"Content-Type": "application/xml", "Content-Encoding": "gzip"}),
    )
    status, answer = response.status, await response.json()
    done.set()
    await ticker
    assert (status, answer["error"]["code"]) == (400, "unparseable"), answer  # zeros
    assert max(gaps) < 0.1, f"the loop stalled {max(gaps) * 1000:.0f} ms"
