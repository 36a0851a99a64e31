"""Bearer-key authentication: the key names the principal; the scope decides the routes."""

from __future__ import annotations

from aiohttp import web

from gateway.codes import MessageCode
from gateway.http import mtls
from gateway.http.responses import ApiError
from gateway.http.state import KEYS, POOL, PRINCIPAL, PROFILES
from gateway.keys import Principal, Scope

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aedgw"'}
_IDENTIFIED = web.RequestKey("identified", bool)


def _bearer(request: web.Request) -> str | None:
    kind, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if kind.lower() == "bearer" and token.strip() else None


async def identify(request: web.Request) -> Principal | None:
    """The principal of a good bearer key, looked up once per request; None without one
    (the limits middleware needs to know the operator before the handler runs)."""
    if _IDENTIFIED in request:
        return request.get(PRINCIPAL)
    request[_IDENTIFIED] = True
    token = _bearer(request)
    principal = await request.app[KEYS].verify(request.app[POOL], token) if token else None
    if principal is not None:
        request[PRINCIPAL] = principal
    return principal


async def authenticate(request: web.Request, *scopes: Scope) -> Principal:
    """The request's principal; 401 without a good key, 403 when its scope is not allowed
    or, for an operator, when its client certificate does not suit its profile."""
    principal = await identify(request)
    if principal is None:
        message = "unknown, expired or revoked key" if _bearer(request) else (
            "send Authorization: Bearer <key>"
        )
        raise ApiError(401, MessageCode.UNAUTHORIZED, message, headers=_CHALLENGE)
    if principal.scope not in scopes:
        allowed = " or ".join(s.value for s in scopes)
        raise ApiError(403, MessageCode.FORBIDDEN, f"this needs a {allowed} key")
    if principal.scope is Scope.OPERATOR:
        profile = await request.app[PROFILES].get(request.app[POOL], principal.subject)
        if profile is not None:
            mtls.check(request, profile)
    return principal
