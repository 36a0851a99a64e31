"""The console's pages, server-rendered from the database: overview, rejections,
scorecard, dead letters (with replay) and item search; plus login and logout.

Handlers stay thin: they check the session (and the CSRF token of a form), ask the core
(gateway.overview, gateway.scorecard, gateway.delivery.deadletters, gateway.feed) and
render a template. Replays go to the audit trail in the transaction that replays.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, wraps
from importlib.resources import files
from typing import Any

import jinja2
import orjson
from aiohttp import web

from gateway import audit, decisions, feed, operators, overview, rollups, scorecard
from gateway.delivery import deadletters
from gateway.delivery.deadletters import Filters
from gateway.http.console import charts, sessions
from gateway.http.console.sessions import Session
from gateway.http.params import query
from gateway.http.state import POOL, REPLAY_BUDGET, SETTINGS
from gateway.keys import Scope
from gateway.scorecard import BY_NAME, Period

routes = web.RouteTableDef()

HEADERS = {
    # No script at all; styles and images from here only; never framed.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
DEAD_LETTERS_SHOWN = 100
REPLAY_MOST = 1000
REJECTION_HOURS = (1, 24, 168)
FILTERS = ("target", "operator", "code", "since", "until")

Page = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.http.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["percent"] = lambda v: "–" if v is None else f"{v * 100:.1f} %"
    env.filters["when"] = lambda v: "" if v is None else (
        v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else v
    )
    env.filters["age"] = _age
    env.filters["pretty"] = lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2).decode()
    return env


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render(template: str, status: int = 200, **context: Any) -> web.Response:
    here = template.removesuffix(".html")
    body = _templates().get_template(template).render(here=here, **context)
    return web.Response(text=body, status=status, content_type="text/html", headers=HEADERS)


def page(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page for a logged-in admin: without a live session, off to the login form."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await sessions.current(request)
        if session is None:
            raise web.HTTPSeeOther("/console/login")
        return await handler(request, session)

    return guarded


def form_page(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A form POST: a page whose form carries the session's CSRF token, or a 403."""

    @page
    @wraps(handler)
    async def checked(request: web.Request, session: Session) -> web.StreamResponse:
        form = await _form(request)
        if not sessions.form_genuine(session, str(form.get("csrf", ""))):
            return render("error.html", 403, session=None,
                          message="This form is stale or was not sent from the console.")
        return await handler(request, session)

    return checked


async def _form(request: web.Request) -> Mapping[str, Any]:
    """The posted form; a body that is no form (or a broken one) is an empty form, which
    every handler refuses for its missing CSRF token."""
    try:
        return await request.post()
    except ValueError:
        return {}


@routes.get("/console")
async def home(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/console/overview")


@routes.get("/console/console.css")
async def stylesheet(_request: web.Request) -> web.Response:
    return web.Response(body=_stylesheet(), content_type="text/css",
                        headers={"Cache-Control": "max-age=300"})


@cache
def _stylesheet() -> bytes:
    return files("gateway.http.console").joinpath("static/console.css").read_bytes()


@routes.get("/console/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    if await sessions.current(request) is not None:
        raise web.HTTPSeeOther("/console/overview")
    return _login(request, 200, None)


@routes.post("/console/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    if not sessions.login_form_genuine(request, str(form.get("csrf", ""))):
        return _login(request, 403, "The form expired; please try again.")
    principal = await sessions.admin_of(request, str(form.get("key", "")))
    if principal is None:
        return _login(request, 401, "Unknown, expired or revoked key.")
    if principal.scope is not Scope.ADMIN:
        return _login(request, 403, "The console needs an admin key.")
    response = web.HTTPSeeOther("/console/overview")
    await sessions.open_session(request, response, principal)
    await audit.record(request.app[POOL], _actor(request, principal.key_id), "console.login")
    raise response


def _login(request: web.Request, status: int, error: str | None) -> web.Response:
    """The login form, with a fresh CSRF token in it and in its cookie."""
    response = web.Response(status=status, content_type="text/html", headers=HEADERS)
    csrf = sessions.login_token(request, response)
    response.text = _templates().get_template("login.html").render(
        here="login", session=None, error=error, csrf=csrf
    )
    return response


@routes.post("/console/logout")
@form_page
async def logout(request: web.Request, session: Session) -> web.StreamResponse:
    response = web.HTTPSeeOther("/console/login")
    await sessions.close_session(request, response)
    await audit.record(request.app[POOL], _actor(request, session.key_id), "console.logout")
    raise response


def _actor(request: web.Request, key_id: str) -> audit.Actor:
    return audit.Actor(key_id, request.remote)


@routes.get("/console/overview")
@page
async def overview_page(request: web.Request, session: Session) -> web.StreamResponse:
    pool = request.app[POOL]
    codes = [row["code"] for row in await operators.list_all(pool)]
    traffic = await overview.traffic(pool, codes)
    targets = [t.name for t in request.app[SETTINGS].targets]
    queues = await overview.queues(pool, targets)
    cards = []
    for entry in traffic:
        labels = [f"{h:%H}:00" for h in entry.hours]
        cards.append({
            "traffic": entry,
            "items_chart": charts.bars(entry.items, labels, highlight=entry.rejected,
                                       title=f"{entry.operator}: items per hour"),
            "messages_chart": charts.bars(entry.messages, labels, height=40,
                                          title=f"{entry.operator}: messages per hour"),
        })
    return render("overview.html", session=session, cards=cards, queues=queues,
                  now=datetime.now(UTC))


@routes.get("/console/rejections")
@query("hours", "operator")
@page
async def rejections_page(request: web.Request, session: Session) -> web.StreamResponse:
    hours = _choice(request, "hours", REJECTION_HOURS, 24)
    operator = request.query.get("operator") or None
    since = datetime.now(UTC) - timedelta(hours=hours)
    groups = await overview.rejections(request.app[POOL], since, operator)
    by_operator: dict[str, list[overview.Rejections]] = {}
    for group in groups:
        by_operator.setdefault(group.operator, []).append(group)
    return render("rejections.html", session=session, by_operator=by_operator, hours=hours,
                  choices=REJECTION_HOURS, operator=operator or "",
                  operators=await _operator_codes(request))


@routes.get("/console/scorecard")
@query("operator", "since", "until")
@page
async def scorecard_page(request: web.Request, session: Session) -> web.StreamResponse:
    operator = request.query.get("operator") or None
    error = None
    try:
        period = Period.parse(request.query.get("since") or None,
                              request.query.get("until") or None, rollups.today())
    except ValueError as exc:
        error, period = str(exc), Period.week_of(rollups.today())
    try:
        cards = await scorecard.scorecards(
            request.app[POOL], period, operator=operator,
            late_hours=request.app[SETTINGS].scorecard.late_hours,
        )
    except scorecard.OperatorUnknown:
        error, cards = f"no operator {operator!r}", []
    for card in cards:
        for measure in card["measures"]:
            weekly = [week["values"][measure["name"]] for week in card["weeks"]]
            measure["chart"] = charts.trend(
                weekly, baseline=measure["baseline"], target=measure["target"],
                title=f"{card['operator']}: {measure['label']}, week by week",
            )
            measure["share"] = BY_NAME[measure["name"]].share
    return render("scorecard.html", session=session, cards=cards, period=period, error=error,
                  operator=operator or "", operators=await _operator_codes(request),
                  query={k: request.query.get(k, "") for k in ("since", "until")})


@routes.get("/console/deadletters")
@query(*FILTERS)
@page
async def deadletters_page(request: web.Request, session: Session) -> web.StreamResponse:
    return await _deadletters(request, session, {k: request.query.get(k, "") for k in FILTERS})


async def _deadletters(
    request: web.Request, session: Session, values: dict[str, str], *,
    notice: str | None = None, status: int = 200,
) -> web.Response:
    pool = request.app[POOL]
    error = None
    try:
        filters = Filters.parse(values)
    except ValueError as exc:
        error, filters = str(exc), Filters()
    rows = await deadletters.list_dead(pool, filters, limit=DEAD_LETTERS_SHOWN)
    total = await deadletters.count(pool, filters)
    return render("deadletters.html", status, session=session, rows=rows, total=total,
                  values=values, error=error, notice=notice, most=REPLAY_MOST)


@routes.post("/console/deadletters/replay")
@form_page
async def replay(request: web.Request, session: Session) -> web.StreamResponse:
    form = await _form(request)
    values = {k: str(form.get(k, "")) for k in FILTERS}
    try:
        filters = Filters.parse(values)
        limit = int(str(form.get("limit", "")) or REPLAY_MOST)
        if not 1 <= limit <= REPLAY_MOST:
            raise ValueError(f"replay 1 to {REPLAY_MOST} rows at a time")
    except ValueError as exc:
        return await _deadletters(request, session, values, notice=str(exc), status=400)
    budget = request.app[REPLAY_BUDGET]
    allowed = min(limit, budget.available())
    if allowed < 1:
        wait = math.ceil(budget.wait_s())
        return await _deadletters(request, session, values, status=429,
                                  notice=f"Replay budget spent; try again in {wait} s.")
    actor = _actor(request, session.key_id)
    result = await deadletters.replay_audited(
        request.app[POOL], filters, allowed, actor, "console"
    )
    budget.spend(result.rows)
    notice = (f"Replayed {result.replayed} dead letters; {result.superseded} superseded "
              "(a newer revision of the item exists for the target).")
    return await _deadletters(request, session, values, notice=notice)


@routes.get("/console/items")
@query("item_id", "operator")
@page
async def items_page(request: web.Request, session: Session) -> web.StreamResponse:
    item_id = request.query.get("item_id", "").strip().upper()
    operator = request.query.get("operator") or None
    ledger, choices, item_decisions = None, [], []
    if item_id:
        pool = request.app[POOL]
        try:
            ledger = await feed.item_ledger(pool, item_id, operator)
        except feed.ItemAmbiguous as ambiguous:
            choices = ambiguous.operators
        if ledger is not None:
            item_decisions = await decisions.item_decisions(pool, ledger["operator"], item_id)
    return render("items.html", session=session, item_id=item_id, ledger=ledger,
                  choices=choices, decisions=item_decisions, searched=bool(item_id))


def _choice(request: web.Request, name: str, allowed: tuple[int, ...], default: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        return default
    return value if value in allowed else default


async def _operator_codes(request: web.Request) -> list[str]:
    return [row["code"] for row in await operators.list_all(request.app[POOL])]
