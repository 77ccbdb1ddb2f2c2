"""The operator page: my state in one click, the patient card while my phone rings,
a note on the call, my callback tasks. Live like the wallboard (same feed, own part).

State changes go through `OperatorBoard.request_state`, the one rule the API and the
phone's feature codes use (a change asked for during a call applies when it ends).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import aiohttp_jinja2
from aiohttp import web
from aiohttp_sse import sse_response

from router.console.audit_page import audited
from router.console.deps import CONSOLE, ConsoleDeps
from router.console.feed import Frame
from router.console.guard import viewer
from router.console.live import LiveCall, queue_label
from router.console.render import page
from router.console.session import Viewer
from router.console.wallboard import STREAM_MAX_S
from router.domain.console_access import Permission, may, may_open_operator_page
from router.domain.operators import SETTABLE, Presence
from router.domain.patient_card import PatientCard, PatientFacts, TaskFacts, build_card

PARTIAL = "_operator.html"
MAX_REASON = 64
MAX_NOTE = 1000
PAUSE_REASONS = ("break", "lunch", "training", "meeting", "paperwork")
TASKS_EVERY_S = 30.0  # an open page looks again for callback tasks made for its operator


def _operator_id(request: web.Request, who: Viewer) -> str:
    return _allowed(request, who, request.match_info["operator_id"])


def _allowed(request: web.Request, who: Viewer, op_id: str) -> str:
    if not may_open_operator_page(who.role, who.operator_id, op_id):
        raise web.HTTPForbidden(text="You may open your own operator page only.")
    board = request.app[CONSOLE].require_feed().source.board
    if not board.has(op_id):
        raise web.HTTPNotFound(text=f"No operator {op_id} in the rules.")
    return op_id


def _whole_number(deps: ConsoleDeps, who: Viewer, op_id: str) -> bool:
    """The operator on the call sees the number whole; others as the settings say."""
    if who.operator_id == op_id:
        return True
    allowed = frozenset(deps.settings.full_numbers_for)
    return may(who.role, Permission.FULL_NUMBERS, full_numbers=allowed)


async def _card(deps: ConsoleDeps, call: LiveCall, stage: str, whole: bool) -> PatientCard:
    e164 = call.caller_e164
    records = await deps.store.patients.find_by_phone(e164) if e164 else []
    misses, tasks = await deps.reads.number_history(e164) if e164 else ([], [])
    target = call.miss_target
    return build_card(
        call_id=call.id,
        stage=stage,
        e164=e164,
        whole_number=whole,
        queue=queue_label(target),
        line=target.line if target else None,
        pressed=call.menu_path,
        chosen=call.patient_id,
        patients=[
            PatientFacts(
                r.id,
                r.name,
                r.birth_year,
                r.assigned_operator_id,
                r.tags,
                tuple(a.starts_at for a in r.appointments),
            )
            for r in records
        ],
        misses=[m for m in misses if m.at < datetime.now(UTC)],
        tasks=tasks,
        now=datetime.now(UTC),
    )


class _Panel:
    """The live part of one open operator page. The card is read once per call and
    stage, the callback tasks when the operator's state or call changes (a task made
    for them meanwhile shows within `TASKS_EVERY_S`): a frame of the wallboard costs an
    open page no database read unless it concerns its operator."""

    def __init__(self, deps: ConsoleDeps, who: Viewer, op_id: str) -> None:
        self.deps, self.who, self.op_id = deps, who, op_id
        self._card_key: tuple[str, str] | None = None
        self._card: PatientCard | None = None
        self._tasks_key: object = None
        self._tasks: list[TaskFacts] = []
        self._tasks_at = -math.inf

    def key(self, calls: Mapping[str, LiveCall]) -> tuple[object, ...]:
        """What the page shows depends on (besides the tasks)."""
        status = self.deps.require_feed().source.board.get(self.op_id)
        call = calls.get(self.op_id)
        return (status, call.id if call else None, self._due())

    def _due(self) -> bool:
        return time.monotonic() - self._tasks_at >= TASKS_EVERY_S

    async def context(self, calls: Mapping[str, LiveCall] | None = None) -> dict[str, object]:
        source = self.deps.require_feed().source
        status = source.board.get(self.op_id)
        call = (source.calls_by_operator() if calls is None else calls).get(self.op_id)
        stage = status.presence.value
        if call is None:
            self._card_key, self._card = None, None
        elif self._card_key != (call.id, stage):
            whole = _whole_number(self.deps, self.who, self.op_id)
            self._card = await _card(self.deps, call, stage, whole)
            self._card_key = (call.id, stage)
        tasks_key = (stage, call.id if call else None)
        if tasks_key != self._tasks_key or self._due():
            self._tasks = await self.deps.reads.operator_tasks(self.op_id)
            self._tasks_key, self._tasks_at = tasks_key, time.monotonic()
        return {
            "op": status,
            "pending": status.pending,
            "card": self._card,
            "tasks": self._tasks,
            "now": self.deps.clock(),
            "reasons": PAUSE_REASONS,
        }


async def operator_page(request: web.Request) -> web.Response:
    who = viewer(request)
    op_id = _operator_id(request, who)
    deps = request.app[CONSOLE]
    context = await _Panel(deps, who, op_id).context()
    context["last_call"] = await deps.reads.last_answered(op_id)
    return await page(request, "operator.html", context)


async def operator_events(request: web.Request) -> web.StreamResponse:
    who = viewer(request)
    op_id = _operator_id(request, who)
    deps = request.app[CONSOLE]
    feed = deps.require_feed()
    panel = _Panel(deps, who, op_id)
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_MAX_S
    sent = None
    seen: tuple[object, ...] | None = None
    last: Frame | None = None
    async with sse_response(request) as stream, feed.watch(False) as frames:
        while stream.is_connected() and loop.time() < ends:
            try:
                async with asyncio.timeout(min(15.0, max(0.0, ends - loop.time()))):
                    frame = await frames.get()
            except TimeoutError:
                if last is None:
                    continue
                frame = last  # no new board: the tasks may still be due a look
            if frame is None:
                break  # the server is stopping
            last = frame
            key = panel.key(frame.calls)
            if key == seen:
                continue  # the board changed elsewhere: nothing of this page did
            seen = key
            context = await panel.context(frame.calls)
            html = aiohttp_jinja2.render_string(PARTIAL, request, context)
            if html != sent:
                await stream.send(html, event="board")
                sent = html
    return stream


async def set_state(request: web.Request) -> web.Response:
    who = viewer(request)
    op_id = _operator_id(request, who)
    await change_state(request, who, op_id)
    raise web.HTTPSeeOther(f"/console/operator/{op_id}")


async def change_state(request: web.Request, who: Viewer, op_id: str) -> None:
    """The form's state and reason, through the board's one rule; audited."""
    _allowed(request, who, op_id)
    board = request.app[CONSOLE].require_feed().source.board
    form = await request.post()
    try:
        presence = Presence(str(form.get("state", "")))
    except ValueError:
        presence = None
    if presence is None or presence not in SETTABLE:
        raise web.HTTPBadRequest(text="Choose available, paused or offline.")
    reason = str(form.get("reason", "")).strip()[:MAX_REASON] or None
    if presence is Presence.PAUSED and reason is None:
        reason = "pause"
    status = board.request_state(op_id, presence, reason)
    details: dict[str, object] = {"state": presence.value, "reason": reason}
    details["applied"] = status.pending is None
    await audited(request, who, "operator.state", op_id, details)


async def add_note(request: web.Request) -> web.Response:
    """A disposition or note on a call this operator answered, kept in its journey."""
    who = viewer(request)
    op_id = _operator_id(request, who)
    deps = request.app[CONSOLE]
    form = await request.post()
    call_id = str(form.get("call_id", ""))
    text = str(form.get("note", "")).strip()[:MAX_NOTE]
    disposition = str(form.get("disposition", "")).strip()[:MAX_REASON] or None
    row = await deps.store.calls.get(call_id) if call_id else None
    if row is None or row.operator_id != op_id:
        raise web.HTTPBadRequest(text="That call was not answered by this operator.")
    if text or disposition:
        data = {"operator": op_id, "by": who.username, "disposition": disposition, "note": text}
        await deps.store.calls.append_event(call_id, "operator_note", data, datetime.now(UTC))
    raise web.HTTPSeeOther(f"/console/operator/{op_id}")
