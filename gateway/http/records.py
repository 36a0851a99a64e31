"""``GET /v1/records`` (the pull feed) and ``GET /v1/records/{item_id}`` (one item's
ledger) for targeting systems; admins may read both too, to look into what was served."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from gateway import feed
from gateway.canonical_xml import records_document
from gateway.codes import MessageCode
from gateway.http.auth import authenticate
from gateway.http.responses import ApiError, json_response
from gateway.http.state import FEED, POOL
from gateway.keys import Scope

routes = web.RouteTableDef()

JSON, XML, TEXT_XML = "application/json", "application/xml", "text/xml"
READERS = (Scope.TARGETING, Scope.ADMIN)


@routes.get("/v1/records")
async def records_page(request: web.Request) -> web.Response:
    await authenticate(request, *READERS)
    media_type = negotiate(request.headers.get("Accept", ""), (JSON, XML, TEXT_XML))
    after = _cursor(request.query.get("after"))
    limit = int(_number(request, "limit", feed.DEFAULT_LIMIT, 1, feed.MAX_LIMIT, int))
    wait_s = _number(request, "wait", 0.0, 0.0, feed.MAX_WAIT_S, float)
    try:
        page = await feed.read(request.app[POOL], request.app[FEED], after, limit, wait_s)
    except feed.CursorGone as gone:
        raise ApiError(410, MessageCode.CURSOR_PURGED, str(gone)) from None
    cursor = page.next.encode()
    if media_type == JSON:
        return json_response({"records": page.records, "next": cursor})
    # Rendering 1,000 records takes a few hundred ms: off the event loop, like big ingests.
    body = await asyncio.to_thread(records_document, page.records, cursor)
    return web.Response(body=body, content_type=media_type, charset="utf-8")


@routes.get("/v1/records/{item_id}")
async def item_history(request: web.Request) -> web.Response:
    await authenticate(request, *READERS)
    negotiate(request.headers.get("Accept", ""), (JSON,))
    item_id = request.match_info["item_id"]
    try:
        ledger = await feed.item_ledger(
            request.app[POOL], item_id, request.query.get("operator") or None
        )
    except feed.ItemAmbiguous as ambiguous:
        raise ApiError(
            409,
            MessageCode.AMBIGUOUS_ITEM,
            "several operators use this item id; name one with ?operator=",
            {"operators": ambiguous.operators},
        ) from None
    if ledger is None:
        raise ApiError(404, MessageCode.NOT_FOUND, "no such item")
    return json_response(ledger)


def negotiate(accept: str, offers: tuple[str, ...]) -> str:
    """The offer the Accept header ranks best (q, then an exact match over a wildcard);
    the first offer when the header is absent; 406 when it accepts none of them."""
    if not accept.strip():
        return offers[0]
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    best, best_rank = None, (0.0, 0)
    for offer in offers:
        rank = _rank(offer, ranges)
        if rank is not None and rank[0] > 0 and rank > best_rank:
            best, best_rank = offer, rank
    if best is None:
        raise ApiError(
            406, MessageCode.NOT_ACCEPTABLE, f"this resource is available as {', '.join(offers)}"
        )
    return best


def _rank(offer: str, ranges: list[tuple[str, float]]) -> tuple[float, int] | None:
    """(q, specificity) of the most specific range matching ``offer``, if any does."""
    kind = offer.split("/")[0]
    found = None
    for media, q in ranges:
        specificity = {offer: 2, f"{kind}/*": 1, "*/*": 0}.get(media)
        if specificity is not None and (found is None or specificity > found[1]):
            found = (q, specificity)
    return found


def _cursor(text: str | None) -> feed.Cursor | None:
    if text is None:
        return None
    try:
        return feed.Cursor.decode(text)
    except feed.CursorInvalid as invalid:
        raise ApiError(400, MessageCode.BAD_REQUEST, f"after: {invalid}") from None


def _number(
    request: web.Request,
    name: str,
    default: float,
    low: float,
    high: float,
    kind: Callable[[str], float],
) -> float:
    """A bounded numeric query parameter; out of bounds is a 400, never silently clamped."""
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ApiError(
            400,
            MessageCode.BAD_REQUEST,
            f"{name} must be a number from {low:g} to {high:g}",
            {"parameter": name},
        )
    return value
