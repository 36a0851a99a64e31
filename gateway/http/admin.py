"""Admin API for dead letters: ``GET /v1/admin/deadletters`` and
``POST /v1/admin/deadletters/replay`` (admin keys only; replay rate-limited)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from gateway import audit
from gateway.codes import MessageCode
from gateway.delivery import deadletters
from gateway.delivery.deadletters import Filters, ReplayBudget
from gateway.http.auth import authenticate
from gateway.http.responses import ApiError, json_response
from gateway.http.state import POOL, REPLAY_BUDGET
from gateway.keys import Scope

routes = web.RouteTableDef()

LIST_DEFAULT, LIST_MAX = 100, 1000
REPLAY_MAX_ROWS = 1000
"""Most rows one replay call returns to the queue."""
REPLAY_RATE, REPLAY_BURST = 100.0, 1000.0
"""Rows per second replayed through the API by one process, and the most at once."""
"""Error code of a 429 (not yet in ``gateway.codes.MessageCode``)."""


def replay_budget() -> ReplayBudget:
    return ReplayBudget(REPLAY_RATE, REPLAY_BURST)


def _parse(values: Mapping[str, Any], default: int, most: int) -> tuple[Filters, int]:
    try:
        filters = Filters.parse(values)
        limit = int(values.get("limit", default))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, MessageCode.BAD_REQUEST, str(exc)) from None
    if not 1 <= limit <= most:
        raise ApiError(400, MessageCode.BAD_REQUEST, f"limit is 1 to {most}")
    return filters, limit


@routes.get("/v1/admin/deadletters")
async def list_dead_letters(request: web.Request) -> web.Response:
    await authenticate(request, Scope.ADMIN)
    filters, limit = _parse(request.query, LIST_DEFAULT, LIST_MAX)
    try:
        after = int(request.query.get("after", 0))
    except ValueError:
        raise ApiError(400, MessageCode.BAD_REQUEST, "after is a dead letter id") from None
    rows = await deadletters.list_dead(request.app[POOL], filters, limit=limit, after=after)
    following = rows[-1]["id"] if len(rows) == limit else None
    return json_response({"deadletters": rows, "next": following})


@routes.post("/v1/admin/deadletters/replay")
async def replay_dead_letters(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.ADMIN)
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, MessageCode.BAD_REQUEST, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, MessageCode.BAD_REQUEST, "the body is a JSON object of filters")
    filters, limit = _parse(body, REPLAY_MAX_ROWS, REPLAY_MAX_ROWS)
    budget = request.app[REPLAY_BUDGET]
    allowed = min(limit, budget.available())
    if allowed < 1:
        wait = math.ceil(budget.wait_s())
        raise ApiError(
            429,
            MessageCode.RATE_LIMITED,
            "replay budget spent; retry later",
            {"rows_per_second": budget.rate},
            headers={"Retry-After": str(wait)},
        )
    pool = request.app[POOL]
    actor = audit.Actor(principal.key_id, request.remote)
    result = await deadletters.replay(pool, filters, allowed, actor, "api")
    budget.spend(result.rows)
    return json_response({
        "replayed": result.replayed,
        "superseded": result.superseded,
        "remaining": await deadletters.count(pool, filters),
    })
