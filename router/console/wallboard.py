"""The wallboard page and its live stream (Server-Sent Events).

The page is rendered whole on the server; the stream sends the board part again,
rendered by the same template, after every change, and the page swaps it in. A stream
ends after `STREAM_MAX_S` (the browser reconnects at once), so a disabled user or an
expired session loses the board within that time.
"""

from __future__ import annotations

import asyncio

import aiohttp_jinja2
from aiohttp import web
from aiohttp_sse import sse_response

from router.console.deps import CONSOLE
from router.console.guard import viewer
from router.console.render import page
from router.console.session import Viewer
from router.domain.console_access import Permission, may
from router.domain.wallboard import Wallboard

STREAM_MAX_S = 300.0
PARTIAL = "_board.html"


def _whole_numbers(request: web.Request, who: Viewer) -> bool:
    allowed = frozenset(request.app[CONSOLE].settings.full_numbers_for)
    return may(who.role, Permission.FULL_NUMBERS, full_numbers=allowed)


def _board_context(board: Wallboard, now: float) -> dict[str, object]:
    return {"board": board, "now": now}


async def wallboard_page(request: web.Request) -> web.Response:
    who = viewer(request, Permission.WALLBOARD)
    deps = request.app[CONSOLE]
    feed = deps.require_feed()
    frame = await feed.current(_whole_numbers(request, who))
    kiosk = request.query.get("kiosk") == "1"
    context = {**_board_context(frame.board, deps.clock()), "kiosk": kiosk}
    return await page(request, "wallboard.html", context)


async def wallboard_events(request: web.Request) -> web.StreamResponse:
    who = viewer(request, Permission.WALLBOARD)
    deps = request.app[CONSOLE]
    feed = deps.require_feed()
    whole = _whole_numbers(request, who)

    def render(board: Wallboard) -> str:
        context = _board_context(board, deps.clock())
        return aiohttp_jinja2.render_string(PARTIAL, request, context)

    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_MAX_S
    async with sse_response(request) as stream, feed.watch(whole) as frames:
        while stream.is_connected() and loop.time() < ends:
            try:
                async with asyncio.timeout(min(15.0, max(0.0, ends - loop.time()))):
                    frame = await frames.get()
            except TimeoutError:
                continue
            if frame is None:
                break  # the server is stopping
            await stream.send(feed.rendered(frame, whole, render), event="board")
    return stream


async def keepalive(request: web.Request) -> web.Response:
    """Polled by open live pages: an open wallboard keeps its session from idling out."""
    viewer(request)
    return web.Response(status=204)
