"""``/v1/consumers``: pull consumers of the records feed register the cursor up to which
they have kept everything, so that a purge reports who would lose records."""

from __future__ import annotations

import orjson
from aiohttp import web

from gateway import consumers
from gateway.audit import Actor
from gateway.codes import MessageCode
from gateway.feed import Cursor, CursorInvalid
from gateway.http.auth import authenticate
from gateway.http.responses import ApiError, json_response
from gateway.http.state import POOL
from gateway.keys import Scope

routes = web.RouteTableDef()


@routes.put("/v1/consumers/{name}")
async def register(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.TARGETING, Scope.ADMIN)
    try:
        body = orjson.loads(await request.read())
        cursor = Cursor.decode(body["cursor"]) if isinstance(body, dict) else None
    except (orjson.JSONDecodeError, KeyError, TypeError, CursorInvalid):
        cursor = None
    if cursor is None:
        raise ApiError(
            400, MessageCode.BAD_REQUEST, 'send {"cursor": "<a next value of GET /v1/records>"}'
        )
    try:
        registered = await consumers.register(
            request.app[POOL], request.match_info["name"], cursor, principal.subject
        )
    except consumers.NameInvalid as invalid:
        raise ApiError(400, MessageCode.BAD_REQUEST, str(invalid)) from None
    return json_response(registered)


@routes.get("/v1/consumers")
async def listed(request: web.Request) -> web.Response:
    await authenticate(request, Scope.TARGETING, Scope.ADMIN)
    return json_response({"consumers": await consumers.listed(request.app[POOL])})


@routes.delete("/v1/consumers/{name}")
async def forget(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.ADMIN)
    actor = Actor(principal.key_id, request.remote)
    if not await consumers.forget(request.app[POOL], request.match_info["name"], actor):
        raise ApiError(404, MessageCode.NOT_FOUND, "no such consumer")
    return web.Response(status=204)
