"""Bearer-token authentication for everything under /api/ and for /metrics."""

from __future__ import annotations

import hmac

from aiohttp import web

from router.http.errors import ApiError, Handler


def token_middleware(token: str) -> object:
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/") or request.path == "/metrics":
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
                raise ApiError(
                    401,
                    "unauthorized",
                    "missing or wrong API token (send 'Authorization: Bearer <token>')",
                )
        return await handler(request)

    return middleware
