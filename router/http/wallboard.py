"""`GET /api/wallboard`: the console's wallboard as JSON for machines (a wall display of
its own, a BI tool): the same pure summary (`router.domain.wallboard.summarise`) the
page and its live stream show, with callers' numbers masked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

from aiohttp import web

from router.domain.wallboard import Wallboard
from router.http.errors import ApiError

Board = Callable[[], Awaitable[Wallboard]]  # the current board, numbers masked


def add_wallboard_route(app: web.Application, board: Board | None) -> None:
    """The route; without a live engine (`board` None) it answers 503."""

    async def get_wallboard(_request: web.Request) -> web.Response:
        if board is None:
            raise ApiError(503, "no_live_engine", "The wallboard needs the live engine.")
        return web.json_response(asdict(await board()))

    app.router.add_get("/api/wallboard", get_wallboard)
