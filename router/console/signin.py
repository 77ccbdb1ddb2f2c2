"""Signing in and out. Every attempt, ok or not, is audited with the address it came from."""

from __future__ import annotations

import math
from dataclasses import replace

from aiohttp import web
from aiohttp_session import get_session

from router.console import session as sessions
from router.console.deps import CONSOLE
from router.console.guard import VIEWER, viewer
from router.console.passwords import verify_in_thread
from router.console.render import page
from router.domain.console_access import home_path
from router.storage.audit import AuditEntry

MAX_NAME = 64
MAX_PASSWORD = 256


def _safe_next(raw: object) -> str | None:
    """Only a path inside the console: never an open redirect to another site."""
    if isinstance(raw, str) and raw.startswith("/console/") and "//" not in raw and "\\" not in raw:
        return raw
    return None


async def signin_form(request: web.Request) -> web.Response:
    who = request[VIEWER]
    if who is not None:
        raise web.HTTPSeeOther(f"/console/{home_path(who.role, who.operator_id)}")
    return await page(request, "signin.html", {"next": _safe_next(request.query.get("next"))})


async def signin(request: web.Request) -> web.Response:
    deps = request.app[CONSOLE]
    form = await request.post()
    username = str(form.get("username", ""))[:MAX_NAME].strip()
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    after = _safe_next(form.get("next"))
    address = request.remote or "unknown"
    audit = AuditEntry(actor=username or None, action="signin", remote=address)
    wait = deps.throttle.retry_after(address, username)
    if wait > 0:
        seconds = math.ceil(wait)
        await deps.audit.record(replace(audit, ok=False, details={"why": "throttled"}))
        response = await page(
            request,
            "signin.html",
            {"next": after, "error": f"Too many failed sign-ins. Try again in {seconds} s."},
            status=429,
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    row = await deps.users.get(username) if username else None
    usable = row is not None and not row.disabled
    ok = await verify_in_thread(row.password_hash if usable and row else None, password)
    if not ok or row is None:
        deps.throttle.failed(address, username)
        why = "disabled" if row is not None and row.disabled else "wrong name or password"
        await deps.audit.record(replace(audit, ok=False, details={"why": why}))
        context = {"next": after, "error": "Wrong name or password.", "username": username}
        return await page(request, "signin.html", context, status=401)
    deps.throttle.succeeded(address, username)
    sessions.sign_in(await get_session(request), row.username, deps.clock())
    await deps.audit.record(replace(audit, ok=True, details={"role": row.role.value}))
    raise web.HTTPSeeOther(after or f"/console/{home_path(row.role, row.operator_id)}")


async def signout(request: web.Request) -> web.Response:
    deps = request.app[CONSOLE]
    who = request[VIEWER]
    sessions.sign_out(await get_session(request))
    if who is not None:
        await deps.audit.record(
            AuditEntry(actor=who.username, action="signout", remote=request.remote)
        )
    raise web.HTTPSeeOther("/console/signin")


async def home(request: web.Request) -> web.Response:
    who = viewer(request)
    raise web.HTTPSeeOther(f"/console/{home_path(who.role, who.operator_id)}")


async def account(request: web.Request) -> web.Response:
    return await page(request, "account.html", {"me": viewer(request)})

