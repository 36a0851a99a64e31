"""``GET /v1/records`` (the pull feed) and ``GET /v1/records/{item_id}`` (one item's
ledger) for targeting systems; admins may read both too, to look into what was served."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway import feed
from gateway.canonical_xml import records_document
from gateway.codes import MessageCode
from gateway.http.auth import authenticate
from gateway.http.params import negotiate, page_params, query, query_value
from gateway.http.responses import ApiError, ambiguous_item, json_response
from gateway.http.state import FEED, POOL
from gateway.keys import Scope

routes = web.RouteTableDef()

JSON, XML, TEXT_XML = "application/json", "application/xml", "text/xml"
READERS = (Scope.TARGETING, Scope.ADMIN)


@routes.get("/v1/records")
@query("after", "limit", "wait")
async def records_page(request: web.Request) -> web.Response:
    await authenticate(request, *READERS)
    media_type = negotiate(request.headers.get("Accept", ""), (JSON, XML, TEXT_XML))
    after, limit, wait_s = page_params(request)
    try:
        page = await feed.read(request.app[POOL], request.app[FEED], after, limit, wait_s)
    except feed.CursorGone as gone:
        raise ApiError(410, MessageCode.CURSOR_PURGED, str(gone)) from None
    if media_type == JSON:
        return web.Response(body=feed.page_json(page), content_type=JSON)
    # Rendering 1,000 records takes a few hundred ms: off the event loop, like big ingests.
    body = await asyncio.to_thread(_xml, page)
    return web.Response(body=body, content_type=media_type, charset="utf-8")


def _xml(page: feed.Page) -> bytes:
    return records_document([feed.decoded(body) for body in page.entries], page.next.encode())


@routes.get("/v1/records/{item_id}")
@query("operator")
async def item_history(request: web.Request) -> web.Response:
    await authenticate(request, *READERS)
    negotiate(request.headers.get("Accept", ""), (JSON,))
    item_id = request.match_info["item_id"]
    try:
        ledger = await feed.item_ledger(
            request.app[POOL], item_id, query_value(request, "operator")
        )
    except feed.ItemAmbiguous as ambiguous:
        raise ambiguous_item(ambiguous.operators, "with ?operator=") from None
    if ledger is None:
        raise ApiError(404, MessageCode.NOT_FOUND, "no such item")
    return json_response(ledger)
