"""``GET /v1/admin/scorecard`` (every operator, or one) and ``GET /v1/scorecard`` (an
operator's own): the data-quality scorecard over a period."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import rollups, scorecard
from gateway.codes import MessageCode
from gateway.http.auth import authenticate
from gateway.http.params import query
from gateway.http.responses import ApiError, json_response
from gateway.http.state import POOL, SETTINGS
from gateway.keys import Scope
from gateway.scorecard import OperatorUnknown, Period

routes = web.RouteTableDef()


def _period(request: web.Request) -> Period:
    try:
        return Period.parse(
            request.query.get("since"), request.query.get("until"), rollups.today()
        )
    except ValueError as exc:
        raise ApiError(400, MessageCode.BAD_REQUEST, str(exc)) from None


async def _cards(request: web.Request, period: Period, operator: str | None) -> list[Any]:
    try:
        return await scorecard.scorecards(
            request.app[POOL], period, operator=operator,
            late_hours=request.app[SETTINGS].scorecard.late_hours,
        )
    except OperatorUnknown:
        raise ApiError(404, MessageCode.NOT_FOUND, "no such operator") from None


@routes.get("/v1/admin/scorecard")
@query("operator", "since", "until")
async def admin_scorecard(request: web.Request) -> web.Response:
    await authenticate(request, Scope.ADMIN)
    period = _period(request)
    cards = await _cards(request, period, request.query.get("operator") or None)
    return json_response({"period": period.to_dict(), "scorecards": cards})


@routes.get("/v1/scorecard")
@query("since", "until")
async def own_scorecard(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.OPERATOR)
    period = _period(request)
    [card] = await _cards(request, period, principal.subject)
    return json_response(card)
