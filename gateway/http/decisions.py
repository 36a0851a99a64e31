"""The way back over HTTP: targeting posts decisions; operators read the outcomes on
their own items (``GET /v1/outcomes``) and an item's whole state (``GET /v1/items/…``)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from gateway import decisions, feed
from gateway.codes import MessageCode
from gateway.decisions import DecisionCode, DecisionRequest
from gateway.http.auth import authenticate
from gateway.http.params import negotiate, page_params
from gateway.http.responses import ApiError, ambiguous_item, json_response
from gateway.http.state import OUTCOMES, POOL
from gateway.keys import Scope
from gateway.metrics import DECISIONS

routes = web.RouteTableDef()

MAX_TEXT = 1000


@routes.post("/v1/decisions")
async def post_decision(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.TARGETING)
    decision = _decision_request(await _json_body(request))
    try:
        recorded = await decisions.decide(request.app[POOL], decision, principal.subject)
    except decisions.ItemNotFound as missing:
        raise ApiError(404, MessageCode.NOT_FOUND, str(missing)) from None
    except feed.ItemAmbiguous as ambiguous:
        raise ambiguous_item(ambiguous.operators, "in 'operator'") from None
    DECISIONS.labels(decision.code.value, "created" if recorded.created else "repeated").inc()
    return json_response(recorded.decision, 201 if recorded.created else 200)


@routes.get("/v1/outcomes")
async def outcomes(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.OPERATOR)
    negotiate(request.headers.get("Accept", ""), ("application/json",))
    after, limit, wait_s = page_params(request)
    try:
        page = await decisions.outcomes(
            request.app[POOL], request.app[OUTCOMES], principal.subject, after, limit, wait_s
        )
    except feed.CursorGone as gone:
        raise ApiError(410, MessageCode.CURSOR_PURGED, str(gone)) from None
    return json_response({"outcomes": page.entries, "next": page.next.encode()})


@routes.get("/v1/items/{item_id}")
async def item(request: web.Request) -> web.Response:
    """The operator's own item: latest revision, history, deliveries and decisions. An
    item of another operator is a 404, exactly like an unknown one."""
    principal = await authenticate(request, Scope.OPERATOR)
    item_id = request.match_info["item_id"]
    pool = request.app[POOL]
    ledger = await feed.item_ledger(pool, item_id, principal.subject)
    if ledger is None:
        raise ApiError(404, MessageCode.NOT_FOUND, "no such item")
    ledger["decisions"] = await decisions.item_decisions(pool, principal.subject, item_id)
    return json_response(ledger)


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, MessageCode.UNSUPPORTED_MEDIA_TYPE, "send application/json")
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, MessageCode.UNPARSEABLE, f"body is not JSON: {exc}") from None


def _decision_request(body: Any) -> DecisionRequest:
    """Check the decision's fields, naming each bad one (400)."""
    if not isinstance(body, dict):
        raise _bad("body", "a JSON object is expected")
    unknown = set(body) - {"item_id", "operator", "revision", "code", "reference", "reason"}
    if unknown:
        raise _bad(sorted(unknown)[0], "unknown field")
    item_id, reference = body.get("item_id"), body.get("reference")
    for name, value in (("item_id", item_id), ("reference", reference)):
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            raise _bad(name, "a non-empty string is required")
    try:
        code = DecisionCode(body.get("code"))
    except ValueError:
        raise _bad("code", f"one of {', '.join(DecisionCode)}") from None
    revision = body.get("revision")
    if revision is not None and (type(revision) is not int or revision < 1):
        raise _bad("revision", "a revision number (1 or more) or absent")
    for name in ("operator", "reason"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
            raise _bad(name, "a string or absent")
    return DecisionRequest(
        item_id=item_id.strip().upper(),
        code=code,
        reference=reference.strip(),
        reason=body.get("reason"),
        operator=body.get("operator"),
        revision=revision,
    )


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, MessageCode.BAD_REQUEST, f"{field}: {message}", {"field": field})
