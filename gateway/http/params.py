"""Request parameters: what each route reads from its path, query string and JSON body,
checked before any of it reaches the core or PostgreSQL.

Every route declares its query parameters once (``@query("after", "limit")``); the
``strict_parameters`` middleware refuses any other (a typo'd ``afer=`` would silently
restart a feed consumer) and any path or query value PostgreSQL cannot hold or that no
identifier contains: a NUL, a lone surrogate, a control character. Bad values are a 400
``bad_request`` that names the parameter, never clamped and never a 500. An empty value
is the same as none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from gateway import feed
from gateway.codes import MessageCode
from gateway.http.responses import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

INT32_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

# Identifiers, codes, cursors and times hold no control character at all; free text
# (a decision's reason) may hold tabs and line breaks. Neither may hold a NUL (PostgreSQL
# text cannot) or a lone surrogate (it has no UTF-8 form).
_NOT_IN_IDENTIFIERS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

_DECLARED: dict[Callable[..., Any], frozenset[str]] = {}


def query(*names: str) -> Callable[[H], H]:
    """Declare the query parameters a handler reads; the middleware refuses others."""

    def declare(handler: H) -> H:
        _DECLARED[handler] = frozenset(names)
        return handler

    return declare


def declared(handler: Callable[..., Any]) -> frozenset[str]:
    """The query parameters a route handler takes (none unless declared)."""
    return _DECLARED.get(handler, frozenset())


@web.middleware
async def strict_parameters(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse unknown query parameters and unusable path or query values (400)."""
    if request.match_info.http_exception is not None:  # no such route: its 404 or 405
        return await handler(request)
    for name, value in request.match_info.items():
        text(name, value)
    accepted = declared(request.match_info.handler)
    for name, value in request.query.items():
        if name not in accepted:
            takes = ", ".join(sorted(accepted)) or "none"
            raise bad_parameter(name, f"unknown query parameter (this endpoint takes: {takes})")
        text(name, value)
    return await handler(request)


def bad_parameter(name: str, message: str, *, where: str = "parameter") -> ApiError:
    """400 ``bad_request`` naming the parameter (``where="field"`` for a body field)."""
    shown = name if not _NOT_IN_IDENTIFIERS.search(name) else ascii(name)
    return ApiError(400, MessageCode.BAD_REQUEST, f"{shown}: {message}", {where: shown})


def text(name: str, value: str, *, free: bool = False, where: str = "parameter") -> str:
    """``value`` unless it holds a NUL, a lone surrogate or a control character (tabs and
    line breaks are allowed in ``free`` text)."""
    if (_NOT_IN_TEXT if free else _NOT_IN_IDENTIFIERS).search(value):
        raise bad_parameter(
            name, "holds a NUL, a control character or a lone surrogate", where=where
        )
    return value


def query_value(request: web.Request, name: str) -> str | None:
    """A query parameter's value; None when absent or empty (``after=`` is no cursor)."""
    return request.query.get(name) or None


def page_params(request: web.Request) -> tuple[feed.Cursor | None, int, float]:
    """``after``, ``limit`` and ``wait`` of a feed request."""
    after = cursor_param(query_value(request, "after"))
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


def cursor_param(given: str | None) -> feed.Cursor | None:
    if given is None:
        return None
    try:
        return feed.Cursor.decode(given)
    except feed.CursorInvalid as invalid:
        raise bad_parameter("after", str(invalid)) from None


def number_param(
    request: web.Request,
    name: str,
    default: float,
    low: float,
    high: float,
    kind: Callable[[str], float],
) -> float:
    """A bounded numeric query parameter; out of bounds is a 400, never silently clamped."""
    given = query_value(request, name)
    if given is None:
        return default
    try:
        value = kind(given)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise bad_parameter(name, f"a number from {low:g} to {high:g}")
    return value


# JSON bodies of the small admin and decision requests. Python's json (not orjson) reads
# them because it reads a lone surrogate escape, so that the check can name the field
# that holds one instead of refusing the whole body; NaN and duplicate keys are refused
# as everywhere else.


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object: 400 ``unparseable`` (with line and column) when it is
    not JSON, 400 ``bad_request`` when it is JSON but not an object."""
    try:
        body = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            MessageCode.UNPARSEABLE,
            f"the body is not JSON: {exc.msg}",
            {"line": exc.lineno, "column": exc.colno},
        ) from None
    except ValueError as exc:  # not UTF-8, a duplicate key, NaN
        raise ApiError(400, MessageCode.UNPARSEABLE, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_parameter("body", "a JSON object is expected", where="field")
    return body


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = dict(pairs)
    if len(body) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return body


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def body_text(
    body: Mapping[str, Any], name: str, *, required: bool = False, free: bool = False,
    most: int = 1000,
) -> str | None:
    """A string field of a JSON body (None when absent and not required)."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > most:
        need = "a non-empty string" if required else "a string or absent"
        raise bad_parameter(name, f"{need} of at most {most} characters", where="field")
    return text(name, value, free=free, where="field")


def body_integer(
    body: Mapping[str, Any], name: str, default: int | None, low: int, high: int
) -> int | None:
    """An integer field of a JSON body within [low, high] (``default`` when absent)."""
    value = body.get(name, default)
    if value is default:
        return value
    if type(value) is not int or not low <= value <= high:
        raise bad_parameter(name, f"an integer from {low} to {high}", where="field")
    return value
