"""Console logins: an admin key in a POSTed form (never in a URL) opens a session kept in
the database, named by a random token in an HttpOnly, SameSite=Strict cookie and stored
only as its SHA-256. Every request reads the session joined with its key, so revoking
or expiring the key ends the session at once, in every process. Forms carry a CSRF
token: the session's own, or, for the login form, one from a short-lived cookie."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from hashlib import sha256

from aiohttp import web

from gateway.http.state import KEYS, POOL, SETTINGS
from gateway.keys import Principal, Scope
from gateway.store import Q

SESSION_COOKIE = "aedgw_console"
LOGIN_COOKIE = "aedgw_console_login"
LOGIN_COOKIE_S = 3600
PATH = "/console"


@dataclass(frozen=True, slots=True)
class Session:
    key_id: str
    subject: str
    """The admin key's holder, as issued (``aedgw keys issue --admin NAME``)."""
    csrf: str


def _digest(token: str) -> bytes:
    return sha256(token.encode()).digest()


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
            max_age: int, path: str) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, samesite="Strict",
        secure=request.secure,
    )


async def current(request: web.Request) -> Session | None:
    """The request's live session, if its cookie names one."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    row = await request.app[POOL].fetchrow(Q.console_session, _digest(token))
    if row is None:
        return None
    return Session(row["key_id"], row["subject"], row["csrf_token"])


def login_token(request: web.Request, response: web.StreamResponse) -> str:
    """A CSRF token for the login form, also set as a cookie (double submit)."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    _cookie(response, request, LOGIN_COOKIE, token, LOGIN_COOKIE_S, f"{PATH}/login")
    return token


def login_form_genuine(request: web.Request, form_token: str) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), form_token.encode())


def form_genuine(session: Session, form_token: str) -> bool:
    return hmac.compare_digest(session.csrf.encode(), form_token.encode())


async def admin_of(request: web.Request, key: str) -> Principal | None:
    """The key's principal when it is a live key of any scope, else None."""
    return await request.app[KEYS].verify(request.app[POOL], key.strip())


async def open_session(
    request: web.Request, response: web.StreamResponse, principal: Principal
) -> None:
    """A new session for an admin key, its cookie set on ``response``."""
    assert principal.scope is Scope.ADMIN
    token = secrets.token_urlsafe(32)
    hours = request.app[SETTINGS].console.session_hours
    pool = request.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(Q.purge_console_sessions)
        await conn.execute(
            Q.insert_console_session, _digest(token), principal.key_id,
            secrets.token_urlsafe(24), request.remote, hours,
        )
    _cookie(response, request, SESSION_COOKIE, token, int(hours * 3600), PATH)
    response.del_cookie(LOGIN_COOKIE, path=f"{PATH}/login")


async def close_session(request: web.Request, response: web.StreamResponse) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[POOL].execute(Q.delete_console_session, _digest(token))
    response.del_cookie(SESSION_COOKIE, path=PATH)
