"""``GET /v1/admin/audit``: the audit trail of administrative acts (admin keys only)."""

from __future__ import annotations

from aiohttp import web

from gateway import audit
from gateway.canonical import parse_time
from gateway.http.auth import authenticate
from gateway.http.params import BIGINT_MAX, bad_parameter, number_param, query, query_value
from gateway.http.responses import json_response
from gateway.http.state import POOL
from gateway.keys import Scope

routes = web.RouteTableDef()

LIST_DEFAULT, LIST_MAX = 100, 1000


@routes.get("/v1/admin/audit")
@query("since", "action", "actor", "limit", "after")
async def list_audit(request: web.Request) -> web.Response:
    await authenticate(request, Scope.ADMIN)
    since = query_value(request, "since")
    try:
        since_time = parse_time(since) if since else None
    except ValueError:
        raise bad_parameter("since", f"{since!r} is not an ISO 8601 time") from None
    limit = int(number_param(request, "limit", LIST_DEFAULT, 1, LIST_MAX, int))
    entries = await audit.entries(
        request.app[POOL],
        since=since_time,
        action=query_value(request, "action"),
        actor=query_value(request, "actor"),
        after_id=int(number_param(request, "after", 0, 0, BIGINT_MAX, int)),
        limit=limit,
    )
    following = entries[-1]["id"] if len(entries) == limit else None
    return json_response({"entries": entries, "next": following})
