"""Supervisors' views: recent calls as timelines, and the callback ledger with the same
actions as the CLI (call back now, close with a reason). Every action is audited.

A number to filter by is sent in a POST body, never in the URL (it would sit in browser
history and proxy logs).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from router.ari.errors import AriError
from router.console.audit_page import audited
from router.console.deps import CONSOLE, ConsoleDeps
from router.console.guard import viewer
from router.console.operator_page import change_state
from router.console.render import page
from router.console.session import Viewer
from router.console.supervision import MODES
from router.domain.call_filter import CallFilter, filtered
from router.domain.callback_schedule import TaskState
from router.domain.console_access import Permission, may
from router.domain.masking import show_number
from router.domain.phone import normalise_caller
from router.storage.callbacks import TaskClosedError

SCAN = 500  # recent calls read per page before filtering
SHOWN = 100
CLOSE_REASONS = ("done", "cancel")
# A PJSIP endpoint of this PBX only: no "@host", "/number" or Local channel, so a
# supervisor cannot stream a patient's conversation to an outside number.
_PHONE = re.compile(r"PJSIP/[A-Za-z0-9_.-]{1,64}")


def _whole(deps: ConsoleDeps, who: Viewer) -> bool:
    allowed = frozenset(deps.settings.full_numbers_for)
    return may(who.role, Permission.FULL_NUMBERS, full_numbers=allowed)


async def calls_page(request: web.Request) -> web.Response:
    who = viewer(request, Permission.SUPERVISE)
    deps = request.app[CONSOLE]
    form = await request.post() if request.method == "POST" else request.query
    # A number is taken from a POST body only: in a query string it would sit in the
    # browser's history, proxy logs and the sign-in comeback address.
    raw_number = str(form.get("number", "")).strip() if request.method == "POST" else ""
    number = normalise_caller(raw_number).e164 if raw_number else None
    rule = CallFilter(
        number=number,
        operator=str(form.get("operator", "")).strip() or None,
        outcome=str(form.get("outcome", "")).strip() or None,
    )
    day = _day(str(form.get("date", "")))
    since = datetime.combine(day, time.min, tzinfo=UTC) if day else None
    before = since + timedelta(days=1) if since else None
    rows = await deps.store.calls.recent(limit=SCAN, before=before, before_id=None, since=since)
    rows = filtered(rows, rule, SHOWN)
    journeys = await deps.store.calls.events_of([r.id for r in rows])
    whole = _whole(deps, who)
    calls = [
        {"row": r, "caller": show_number(r.caller_e164, whole=whole), "journey": journeys[r.id]}
        for r in rows
    ]
    context = {
        "calls": calls,
        "filter": rule,
        "number_given": bool(raw_number),
        "date": day.isoformat() if day else "",
    }
    return await page(request, "calls.html", context)


def _day(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date() if text else None
    except ValueError:
        return None


async def callbacks_page(request: web.Request) -> web.Response:
    who = viewer(request, Permission.SUPERVISE)
    deps = request.app[CONSOLE]
    state_name = request.query.get("state") or None
    state = state_name if state_name in {s.value for s in TaskState} else None
    line = request.query.get("line") or None
    tasks = await deps.store.callbacks.list(state=state, line=line, limit=SHOWN)
    whole = _whole(deps, who)
    rows = [{"task": t, "number": show_number(t.number_e164, whole=whole)} for t in tasks]
    context = {
        "tasks": rows,
        "states": [s.value for s in TaskState],
        "state": state or "",
        "line": line or "",
        "reasons": CLOSE_REASONS,
    }
    return await page(request, "callbacks.html", context)


def _task_id(request: web.Request) -> int:
    return int(request.match_info["task_id"])


async def call_back_now(request: web.Request) -> web.Response:
    who = viewer(request, Permission.SUPERVISE)
    deps = request.app[CONSOLE]
    task_id = _task_id(request)
    done = await deps.store.callbacks.call_back_now(task_id, datetime.now(UTC))
    await audited(request, who, "callback.now", str(task_id), {"ok": done})
    if not done:
        raise web.HTTPConflict(text=f"Task {task_id} is not open.")
    raise web.HTTPSeeOther("/console/callbacks")


async def close_task(request: web.Request) -> web.Response:
    who = viewer(request, Permission.SUPERVISE)
    deps = request.app[CONSOLE]
    task_id = _task_id(request)
    form = await request.post()
    how = str(form.get("how", ""))
    note = str(form.get("note", "")).strip()[:500] or None
    if how not in CLOSE_REASONS:
        raise web.HTTPBadRequest(text="Close as done or cancel.")
    by, now = f"console:{who.username}", datetime.now(UTC)
    try:
        if how == "done":
            task = await deps.store.callbacks.done(task_id, by, now, note)
        else:
            task = await deps.store.callbacks.cancel(task_id, by, now)
    except TaskClosedError:
        raise web.HTTPConflict(text=f"Task {task_id} is already closed.") from None
    if task is None:
        raise web.HTTPNotFound(text=f"No task {task_id}.")
    await audited(request, who, f"callback.{how}", str(task_id), {"note": bool(note)})
    raise web.HTTPSeeOther("/console/callbacks")


async def supervise_state(request: web.Request) -> web.Response:
    """Pause or resume an operator from the wallboard (a fetch with the CSRF header)."""
    who = viewer(request, Permission.SUPERVISE)
    await change_state(request, who, request.match_info["operator_id"])
    return web.Response(status=204)


async def supervise_call(request: web.Request) -> web.Response:
    """Listen, whisper or barge on an operator's call from the supervisor's own phone."""
    who = viewer(request, Permission.SUPERVISE)
    deps = request.app[CONSOLE]
    op_id = request.match_info["operator_id"]
    form = await request.post()
    mode, phone = str(form.get("mode", "")), str(form.get("phone", "")).strip()
    if mode not in MODES:
        raise web.HTTPBadRequest(text="Choose listen, whisper or barge.")
    if not _PHONE.fullmatch(phone):
        raise web.HTTPBadRequest(text="Your phone as Asterisk names it, e.g. PJSIP/op1008.")
    call = deps.require_feed().source.calls_by_operator().get(op_id)
    if call is None or call.operator_id != op_id or not call.operator_channel:
        raise web.HTTPConflict(text=f"{op_id} is not talking now.")
    if deps.supervision is None:
        raise web.HTTPServiceUnavailable(text="Supervision needs the live engine.")
    try:
        session = await deps.supervision.start(call.operator_channel, phone, mode)
    except AriError as exc:
        await audited(request, who, f"operator.{mode}", op_id, {"ok": False, "phone": phone})
        raise web.HTTPBadGateway(text=f"Asterisk refused: {exc}") from None
    details: dict[str, object] = {"ok": True, "phone": phone, "session": session.id}
    await audited(request, who, f"operator.{mode}", op_id, details)
    return web.Response(status=204)
