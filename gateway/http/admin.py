"""Admin API for dead letters: ``GET /v1/admin/deadletters`` and
``POST /v1/admin/deadletters/replay`` (admin keys only; replay rate-limited)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from aiohttp import web

from gateway import audit
from gateway.codes import MessageCode
from gateway.delivery import deadletters
from gateway.delivery.deadletters import FilterInvalid, Filters
from gateway.delivery.pacing import RowBudget
from gateway.http.auth import authenticate
from gateway.http.params import (
    BIGINT_MAX,
    bad_parameter,
    body_integer,
    body_text,
    json_object,
    number_param,
    query,
    query_value,
)
from gateway.http.responses import ApiError, json_response
from gateway.http.state import POOL, REPLAY_BUDGET
from gateway.keys import Scope

routes = web.RouteTableDef()

LIST_DEFAULT, LIST_MAX = 100, 1000
REPLAY_MAX_ROWS = 1000
"""Most rows one replay call returns to the queue."""
REPLAY_RATE, REPLAY_BURST = 100.0, 1000.0
"""Rows per second replayed through the API by one process, and the most at once."""


def replay_budget() -> RowBudget:
    return RowBudget(REPLAY_RATE, REPLAY_BURST)


FILTERS = ("target", "operator", "since", "until", "code")


def _filters(values: Mapping[str, str | None]) -> Filters:
    try:
        return Filters.parse(values)
    except FilterInvalid as bad:
        raise bad_parameter(bad.name, str(bad)) from None


@routes.get("/v1/admin/deadletters")
@query(*FILTERS, "limit", "after")
async def list_dead_letters(request: web.Request) -> web.Response:
    await authenticate(request, Scope.ADMIN)
    filters = _filters({name: query_value(request, name) for name in FILTERS})
    limit = int(number_param(request, "limit", LIST_DEFAULT, 1, LIST_MAX, int))
    after = int(number_param(request, "after", 0, 0, BIGINT_MAX, int))
    rows = await deadletters.list_dead(request.app[POOL], filters, limit=limit, after=after)
    following = rows[-1]["id"] if len(rows) == limit else None
    return json_response({"deadletters": rows, "next": following})


@routes.post("/v1/admin/deadletters/replay")
async def replay_dead_letters(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.ADMIN)
    body = json_object(await request.read() or b"{}")
    unknown = sorted(set(body) - {*FILTERS, "limit"})
    if unknown:
        raise bad_parameter(unknown[0], "unknown field", where="field")
    filters = _filters({name: body_text(body, name) for name in FILTERS})
    limit = body_integer(body, "limit", REPLAY_MAX_ROWS, 1, REPLAY_MAX_ROWS)
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
    result = await deadletters.replay_audited(pool, filters, allowed, actor, "api")
    budget.spend(result.rows)
    return json_response({
        "replayed": result.replayed,
        "superseded": result.superseded,
        "remaining": await deadletters.count(pool, filters),
    })
