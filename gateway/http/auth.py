"""Bearer-key authentication: the key names the principal; the scope decides the routes."""

from __future__ import annotations

from aiohttp import web

from gateway.codes import MessageCode
from gateway.http.responses import ApiError
from gateway.http.state import KEYS, POOL, PRINCIPAL
from gateway.keys import Principal, Scope

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aedgw"'}


async def authenticate(request: web.Request, *scopes: Scope) -> Principal:
    """The request's principal; 401 without a good key, 403 when its scope is not allowed."""
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, MessageCode.UNAUTHORIZED, "send Authorization: Bearer <key>", headers=_CHALLENGE
        )
    principal = await request.app[KEYS].verify(request.app[POOL], token.strip())
    if principal is None:
        raise ApiError(
            401, MessageCode.UNAUTHORIZED, "unknown, expired or revoked key", headers=_CHALLENGE
        )
    if principal.scope not in scopes:
        allowed = " or ".join(s.value for s in scopes)
        raise ApiError(403, MessageCode.FORBIDDEN, f"this needs a {allowed} key")
    request[PRINCIPAL] = principal
    return principal
