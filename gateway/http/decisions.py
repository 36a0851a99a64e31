"""The way back over HTTP: targeting posts decisions; operators read the outcomes on
their own items (``GET /v1/outcomes``) and an item's whole state (``GET /v1/items/…``)."""

from __future__ import annotations

from aiohttp import web

from gateway import decisions, feed
from gateway.codes import MessageCode
from gateway.decisions import DecisionCode, DecisionRequest
from gateway.http.auth import authenticate
from gateway.http.params import (
    INT32_MAX,
    bad_parameter,
    body_integer,
    body_text,
    json_object,
    negotiate,
    page_params,
    query,
)
from gateway.http.responses import ApiError, ambiguous_item, json_response
from gateway.http.state import OUTCOMES, POOL
from gateway.keys import Scope
from gateway.metrics import DECISIONS

routes = web.RouteTableDef()


@routes.post("/v1/decisions")
async def post_decision(request: web.Request) -> web.Response:
    principal = await authenticate(request, Scope.TARGETING)
    if request.content_type != "application/json":
        raise ApiError(415, MessageCode.UNSUPPORTED_MEDIA_TYPE, "send application/json")
    decision = _decision_request(await request.read())
    try:
        recorded = await decisions.decide(request.app[POOL], decision, principal.subject)
    except decisions.ItemNotFound as missing:
        raise ApiError(404, MessageCode.NOT_FOUND, str(missing)) from None
    except feed.ItemAmbiguous as ambiguous:
        raise ambiguous_item(ambiguous.operators, "in 'operator'") from None
    DECISIONS.labels(decision.code.value, "created" if recorded.created else "repeated").inc()
    return json_response(recorded.decision, 201 if recorded.created else 200)


@routes.get("/v1/outcomes")
@query("after", "limit", "wait")
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


def _decision_request(request_body: bytes) -> DecisionRequest:
    """Check the decision's fields, naming each bad one (400)."""
    body = json_object(request_body)
    unknown = set(body) - {"item_id", "operator", "revision", "code", "reference", "reason"}
    if unknown:
        raise bad_parameter(sorted(unknown)[0], "unknown field", where="field")
    item_id = body_text(body, "item_id", required=True)
    reference = body_text(body, "reference", required=True)
    try:
        code = DecisionCode(body.get("code"))
    except ValueError:
        raise bad_parameter("code", f"one of {', '.join(DecisionCode)}", where="field") from None
    return DecisionRequest(
        item_id=item_id.strip().upper(),
        code=code,
        reference=reference.strip(),
        reason=body_text(body, "reason", free=True),
        operator=body_text(body, "operator"),
        revision=body_integer(body, "revision", None, 1, INT32_MAX),
    )
