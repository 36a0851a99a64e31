"""Query parameters and content negotiation shared by the feeds: refused with a 400 (or
406) that names the parameter, never silently clamped."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gateway import feed
from gateway.codes import MessageCode
from gateway.http.responses import ApiError


def page_params(request: web.Request) -> tuple[feed.Cursor | None, int, float]:
    """``after``, ``limit`` and ``wait`` of a feed request."""
    after = cursor_param(request.query.get("after"))
    limit = int(number_param(request, "limit", feed.DEFAULT_LIMIT, 1, feed.MAX_LIMIT, int))
    wait_s = number_param(request, "wait", 0.0, 0.0, feed.MAX_WAIT_S, float)
    return after, limit, wait_s


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


def cursor_param(text: str | None) -> feed.Cursor | None:
    if text is None:
        return None
    try:
        return feed.Cursor.decode(text)
    except feed.CursorInvalid as invalid:
        raise ApiError(400, MessageCode.BAD_REQUEST, f"after: {invalid}") from None


def number_param(
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
