"""Signing in and out. Every attempt, ok or not, is audited with the address it came from
(a name that is no user only as a keyed hash: it may be a mistyped password)."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import replace

from aiohttp import web
from aiohttp_session import get_session

from router.console import session as sessions
from router.console.deps import CONSOLE
from router.console.guard import VIEWER, viewer
from router.console.passwords import CheckerBusyError
from router.console.render import page
from router.domain.console_access import home_path
from router.storage.audit import AuditEntry
from router.storage.users import UserRow

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
    row = await deps.users.get(username) if username else None
    audit = _attempt(deps.cookie_key, username, row, address)
    # Checked and counted in one step, before any await: concurrent attempts queue up
    # behind the limit instead of all passing it.
    wait = deps.throttle.begin(address, username)
    if wait > 0:
        seconds = math.ceil(wait)
        await deps.audit.record(
            replace(audit, ok=False, details={**audit.details, "why": "throttled"})
        )
        message = f"Too many failed sign-ins. Try again in {seconds} s."
        return await _refused(request, after, message, 429, seconds)
    usable = row is not None and not row.disabled
    try:
        ok = await deps.passwords.verify(row.password_hash if usable and row else None, password)
    except CheckerBusyError:
        return await _refused(request, after, "The console is busy. Try again shortly.", 503, 1)
    if not ok or row is None:
        deps.throttle.begun_failed(address, username)
        why = "disabled" if row is not None and row.disabled else "wrong name or password"
        why = why if row is not None else "unknown user"
        await deps.audit.record(replace(audit, ok=False, details={**audit.details, "why": why}))
        context = {"next": after, "error": "Wrong name or password.", "username": username}
        return await page(request, "signin.html", context, status=401)
    deps.throttle.succeeded(address, username)
    await sessions.sign_in(
        await get_session(request), deps.sessions, row.username, deps.clock(), deps.settings
    )
    await deps.audit.record(replace(audit, ok=True, details={"role": row.role.value}))
    raise web.HTTPSeeOther(after or f"/console/{home_path(row.role, row.operator_id)}")


def _attempt(key: bytes, typed: str, row: UserRow | None, address: str) -> AuditEntry:
    """The audit entry of a sign-in. A name that is no user is never stored as typed (it
    may be a password typed in the wrong field): a keyed hash lets an admin see the same
    unknown name come back without reading it."""
    if row is not None:
        return AuditEntry(actor=row.username, action="signin", remote=address)
    details: dict[str, object] = {}
    if typed:
        digest = hmac.new(key, typed.encode(), hashlib.sha256).hexdigest()
        details["name_hash"] = digest[:12]
    return AuditEntry(actor=None, action="signin", remote=address, details=details)


async def _refused(
    request: web.Request, after: str | None, message: str, status: int, retry_s: int
) -> web.Response:
    response = await page(request, "signin.html", {"next": after, "error": message}, status=status)
    response.headers["Retry-After"] = str(retry_s)
    return response


async def signout(request: web.Request) -> web.Response:
    deps = request.app[CONSOLE]
    who = request[VIEWER]
    await sessions.sign_out(await get_session(request), deps.sessions)
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
