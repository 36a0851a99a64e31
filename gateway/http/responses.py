"""Response helpers: every JSON body through orjson, every error in the one error shape."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from gateway.codes import MessageCode


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


class ApiError(web.HTTPException):
    """Raise from a handler to answer ``{"error": {...}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: MessageCode,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = status
        error = {"error": {"code": code.value, "message": message, "details": details}}
        super().__init__(
            text=orjson.dumps(error).decode(), content_type="application/json", headers=headers
        )


def ambiguous_item(operators: list[str], how: str) -> ApiError:
    """409 for an item id that several operators use; ``how`` says how to name one."""
    return ApiError(
        409,
        MessageCode.AMBIGUOUS_ITEM,
        f"several operators use this item id; name one {how}",
        {"operators": operators},
    )
