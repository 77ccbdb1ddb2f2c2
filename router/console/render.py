"""Rendering a console page: the template plus what every page shows (who, nav, CSRF)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session

from router.console import session as sessions
from router.console.guard import VIEWER
from router.domain.console_access import Permission, Role, may

# (label, path under /console/, permission needed); the operator's own page is added apart.
_NAV: tuple[tuple[str, str, Permission], ...] = (
    ("Wallboard", "wallboard", Permission.WALLBOARD),
    ("Calls", "calls", Permission.SUPERVISE),
    ("Callbacks", "callbacks", Permission.SUPERVISE),
    ("Reports", "reports", Permission.WALLBOARD),
    ("Rules", "rules", Permission.RULES),
    ("Audit log", "audit", Permission.AUDIT),
)


def setup_templates(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("router.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the test, not the reader
    )


async def page(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    who = request[VIEWER]
    session = await get_session(request)
    nav = []
    if who is not None:
        if who.role is Role.OPERATOR and who.operator_id:
            nav.append(("My page", f"operator/{who.operator_id}"))
        nav.extend((label, path) for label, path, perm in _NAV if may(who.role, perm))
    full = {"viewer": who, "nav": nav, "csrf_token": sessions.csrf_token(session), **context}
    return aiohttp_jinja2.render_template(template, request, full, status=status)
