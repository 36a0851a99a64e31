"""``GET /v1/admin/audit``: the audit trail of administrative acts (admin keys only)."""

from __future__ import annotations

from aiohttp import web

from gateway import audit
from gateway.codes import MessageCode
from gateway.http.auth import authenticate
from gateway.http.responses import ApiError, json_response
from gateway.http.state import POOL
from gateway.keys import Scope

routes = web.RouteTableDef()

LIST_DEFAULT, LIST_MAX = 100, 1000


@routes.get("/v1/admin/audit")
async def list_audit(request: web.Request) -> web.Response:
    await authenticate(request, Scope.ADMIN)
    query = request.query
    try:
        limit = int(query.get("limit", LIST_DEFAULT))
        after = int(query.get("after", 0))
        since = audit.parse_time(query["since"]) if query.get("since") else None
    except ValueError as exc:
        raise ApiError(400, MessageCode.BAD_REQUEST, str(exc)) from None
    if not 1 <= limit <= LIST_MAX:
        raise ApiError(400, MessageCode.BAD_REQUEST, f"limit is 1 to {LIST_MAX}")
    if not 0 <= after < 2**63:
        raise ApiError(400, MessageCode.BAD_REQUEST, "after is an audit entry id")
    entries = await audit.entries(
        request.app[POOL],
        since=since,
        action=query.get("action") or None,
        actor=query.get("actor") or None,
        after_id=after,
        limit=limit,
    )
    following = entries[-1]["id"] if len(entries) == limit else None
    return json_response({"entries": entries, "next": following})

