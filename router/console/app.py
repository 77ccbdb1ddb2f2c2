"""The console's aiohttp application, mounted at `/console` by the composition root."""

from __future__ import annotations

import time
from importlib.resources import files
from pathlib import Path

from aiohttp import web
from aiohttp_session import session_middleware

from router.config.console_settings import ConsoleSettings
from router.console.audit_page import audit_page
from router.console.deps import CONSOLE, ConsoleDeps
from router.console.guard import error_pages, viewer_and_csrf
from router.console.render import setup_templates
from router.console.session import cookie_key, cookie_storage
from router.console.signin import account, home, signin, signin_form, signout
from router.domain.signin_throttle import SigninThrottle, ThrottleLimits
from router.storage.audit import AuditRepository
from router.storage.users import UserRepository

PREFIX = "/console"


def build_console(deps: ConsoleDeps) -> web.Application:
    """The console sub-application; mount it with `app.add_subapp(PREFIX, console)`."""
    app = web.Application(
        middlewares=[
            error_pages,
            session_middleware(cookie_storage(deps.cookie_key, deps.settings)),
            viewer_and_csrf,
        ]
    )
    app[CONSOLE] = deps
    setup_templates(app)
    app.router.add_get("/", home)
    app.router.add_get("/signin", signin_form)
    app.router.add_post("/signin", signin)
    app.router.add_post("/signout", signout)
    app.router.add_get("/account", account)
    app.router.add_get("/audit", audit_page)
    app.router.add_static("/static", Path(str(files("router.console") / "static")))
    return app


def console_deps(
    settings: ConsoleSettings, api_token: str, users: UserRepository, audit: AuditRepository
) -> ConsoleDeps:
    """The console's dependencies from its settings (the cookie key from the console
    secret, or from the API token when no secret is set)."""
    secret = settings.secret.get_secret_value() or api_token
    limits = ThrottleLimits(
        per_user=settings.signin_failures_per_user,
        per_address=settings.signin_failures_per_address,
    )
    return ConsoleDeps(
        users=users,
        audit=audit,
        settings=settings,
        cookie_key=cookie_key(secret),
        throttle=SigninThrottle(time.monotonic, limits),
    )
