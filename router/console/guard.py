"""The console's middlewares: error pages, who is signed in, CSRF, and safe headers.

Every request gets `request[VIEWER]` (None when signed out). Every POST must carry the
session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`), sign-in included,
or it is refused with 403 before any handler runs.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp_session import get_session

from router.console import session as sessions
from router.console.deps import CONSOLE, ConsoleDeps
from router.domain.console_access import Permission, may

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VIEWER: web.RequestKey[sessions.Viewer | None] = web.RequestKey("console_viewer")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_HEADERS = {
    # Scripts and styles come from /console/static only: an injected <script> never runs.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show callers and patients: never kept by the browser or a proxy.
    "Cache-Control": "no-store",
}


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """HTTP errors as small HTML pages (the API's JSON error middleware sits outside)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error_page(exc.status, exc.text or exc.reason)
    except Exception:
        log.exception("console handler failed: %s %s", request.method, request.path)
        response = _error_page(500, "Internal error; see the router's log.")
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _error_page(status: int, message: str) -> web.Response:
    text = message.removeprefix(f"{status}: ")
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Console</title>"
        f'<link rel=stylesheet href="/console/static/console.css"><main class=error>'
        f"<h1>{status}</h1><p>{html.escape(text)}</p>"
        '<p><a href="/console/">Back to the console</a></p></main></html>'
    )
    return web.Response(status=status, text=body, content_type="text/html")


@web.middleware
async def viewer_and_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    deps = request.app[CONSOLE]
    session = await get_session(request)
    request[VIEWER] = None
    started = await sessions.session_row(session, deps.sessions, deps.clock(), deps.settings)
    if started is not None:
        row = await deps.users.get(started.username)
        if sessions.still_valid(started, row):
            assert row is not None
            request[VIEWER] = sessions.Viewer(row.username, row.role, row.operator_id)
        else:
            await sessions.sign_out(session, deps.sessions)
    elif sessions.has_session(session):
        await sessions.sign_out(session, deps.sessions)  # ended or expired: drop the cookie
    if request.method not in _SAFE:
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            field = (await request.post()).get(CSRF_FIELD)
            given = field if isinstance(field, str) else None
        if not sessions.csrf_matches(session, given):
            raise web.HTTPForbidden(
                text="The form has expired or did not come from this console "
                "(missing or wrong CSRF token). Reload the page and try again."
            )
    return await handler(request)


def viewer(request: web.Request, permission: Permission | None = None) -> sessions.Viewer:
    """The signed-in viewer, who must hold `permission`: signed-out GETs are sent to the
    sign-in page (and come back after it), anything else is refused."""
    who = request[VIEWER]
    if who is None:
        if request.method == "GET":
            back = quote(comeback_path(request), safe="/?=&")
            raise web.HTTPSeeOther(f"/console/signin?next={back}")
        raise web.HTTPUnauthorized(text="Signed out: sign in again.")
    deps: ConsoleDeps = request.app[CONSOLE]
    if permission is not None and not may(
        who.role, permission, full_numbers=frozenset(deps.settings.full_numbers_for)
    ):
        raise web.HTTPForbidden(text=f"Your role ({who.role.value}) may not open this page.")
    return who


# Query keys that never hold personal data, kept on the way back from sign-in; any other
# (a number, a name) is dropped so it never lands in `next=`, the history or a log.
_PLAIN_KEYS = frozenset({"kiosk", "state", "before"})


def comeback_path(request: web.Request) -> str:
    """Where to come back after signing in: the path, with only the plain query keys."""
    kept = [(k, v) for k, v in request.query.items() if k in _PLAIN_KEYS]
    return request.path + (("?" + urlencode(kept)) if kept else "")
