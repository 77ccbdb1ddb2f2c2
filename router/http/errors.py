"""One JSON shape for every API error, rendered by one middleware."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error the API reports to its client; `error_id` is stable, `message` is for people."""

    def __init__(
        self, status: int, error_id: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.details = details or {}

    def response(self) -> web.Response:
        body = {
            "status": self.status,
            "error_id": self.error_id,
            "message": self.message,
            "details": self.details,
        }
        return web.Response(
            status=self.status,
            text=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
        )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_id = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return ApiError(exc.status, error_id, exc.reason).response()
    except Exception:
        log.exception("API handler failed: %s %s", request.method, request.path)
        return ApiError(500, "internal_error", "internal error; see the router's log").response()
