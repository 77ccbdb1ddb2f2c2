"""`/api/callbacks`: the callback ledger for supervisors and operators.

`task_json` and `summary_json` are also what `clinic-router callbacks ... --json` prints:
one shape for both, so a script can switch between the command line and the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from router.domain.callback_schedule import TaskState
from router.http.errors import ApiError
from router.http.json_io import int_param, json_object, json_response
from router.storage.callbacks import MAX_PAGE, CallbacksRepo, TaskClosedError
from router.storage.models import CallbackSummary, CallbackTask, MissRow

_TASK = r"/api/callbacks/{task_id:\d{1,18}}"  # digits only, within a bigint
_MAX_AGE_S = 10 * 366 * 86400
_SUMMARY_DAYS = 7


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Ledger:
    repo: CallbacksRepo
    clock: Callable[[], datetime]


LEDGER = web.AppKey("callback_ledger", _Ledger)


def add_callback_routes(
    app: web.Application, repo: CallbacksRepo, clock: Callable[[], datetime] = _utcnow
) -> None:
    app[LEDGER] = _Ledger(repo, clock)
    app.router.add_get("/api/callbacks", list_callbacks)
    app.router.add_get("/api/callbacks/summary", callbacks_summary)
    app.router.add_get(_TASK, get_callback)
    app.router.add_post(_TASK + "/cancel", cancel_callback)
    app.router.add_post(_TASK + "/done", done_callback)


def task_json(task: CallbackTask, now: datetime) -> dict[str, Any]:
    """A task as JSON-ready values; date-times are aware `datetime`s (UTC)."""
    return {
        "id": task.id,
        "number": task.number_e164,
        "callback_number": task.callback_number,
        "patient_id": task.patient_id,
        "line": task.line,
        "state": task.state.value,
        "reasons": list(task.reasons),
        "miss_count": task.miss_count,
        "first_missed_at": task.first_missed_at,
        "last_missed_at": task.last_missed_at,
        "age_s": round((now - task.first_missed_at).total_seconds()),
        "priority": task.priority,
        "keep_place": task.keep_place,
        "due_at": task.due_at,
        "attempts": task.attempts,
        "last_attempt_at": task.last_attempt_at,
        "last_outcome": task.last_outcome,
        "attempt_in_progress": task.attempt_started_at is not None,
        "attempt_stage": task.attempt_stage,
        "claimed_by": task.claimed_by,
        "preferred_operator": task.preferred_operator_id,
        # Where the miss was meant to go: who may call it back (None: the line's default).
        "target": task.target.to_json() if task.target else None,
        "closed_at": task.closed_at,
        "close_reason": task.close_reason,
        "closed_by": task.closed_by,
        "closed_call_id": task.closed_call_id,
        "note": task.note,
    }


def miss_json(miss: MissRow) -> dict[str, Any]:
    return {
        "call_id": miss.call_id,
        "missed_at": miss.missed_at,
        "reason": miss.reason,
        "waited_s": miss.waited_s,
        "line": miss.line,
    }


def summary_json(summary: CallbackSummary) -> dict[str, Any]:
    return {
        "since": summary.since,
        "open_tasks": summary.open_tasks,
        "oldest_open_age_s": _rounded(summary.oldest_open_age_s),
        "misses": summary.misses,
        "lost_anonymous": summary.lost_anonymous,
        "closed": summary.closed,
        "closed_by_reason": dict(summary.closed_by_reason),
        "median_time_to_callback_s": _rounded(summary.median_time_to_callback_s),
        "share_closed_connected": summary.share_closed_connected,
    }


def _rounded(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds)


async def list_callbacks(request: web.Request) -> web.Response:
    """Tasks filtered by `state`, `line` and `min_age_s`, paged by `limit`/`offset`."""
    ledger = request.app[LEDGER]
    state = _state_param(request.query.get("state"))
    line = request.query.get("line") or None
    if line is not None and len(line) > 64:
        raise ApiError(400, "bad_parameter", "line must be at most 64 characters")
    raw_age = request.query.get("min_age_s")
    min_age = None if raw_age is None else int_param(request, "min_age_s", 0, 0, _MAX_AGE_S)
    limit = int_param(request, "limit", 50, 1, MAX_PAGE)
    offset = int_param(request, "offset", 0, 0, 1_000_000)
    now = ledger.clock()
    tasks = await ledger.repo.list(state, line, min_age, limit, offset, now=now)
    return json_response(
        {"callbacks": [task_json(t, now) for t in tasks], "limit": limit, "offset": offset}
    )


def _state_param(raw: str | None) -> TaskState | None:
    if raw is None or raw == "":
        return None
    try:
        return TaskState(raw)
    except ValueError:
        allowed = [s.value for s in TaskState]
        raise ApiError(
            400,
            "bad_parameter",
            f"state must be one of {', '.join(allowed)}",
            {"allowed": allowed},
        ) from None


async def get_callback(request: web.Request) -> web.Response:
    """One task with the misses that made it."""
    ledger = request.app[LEDGER]
    task = await _task_or_404(request)
    body = task_json(task, ledger.clock())
    body["misses"] = [miss_json(m) for m in await ledger.repo.misses_of(task.id)]
    return json_response(body)


async def _task_or_404(request: web.Request) -> CallbackTask:
    task_id = int(request.match_info["task_id"])
    task = await request.app[LEDGER].repo.get(task_id)
    if task is None:
        raise ApiError(404, "callback_not_found", f"no callback task {task_id}")
    return task


async def cancel_callback(request: web.Request) -> web.Response:
    """Drop an open task: `{"by": "who"}` (optional)."""
    return await _close(request, cancel=True)


async def done_callback(request: web.Request) -> web.Response:
    """Mark an open task worked by hand: `{"by": "who", "note": "..."}` (both optional)."""
    return await _close(request, cancel=False)


async def _close(request: web.Request, *, cancel: bool) -> web.Response:
    ledger = request.app[LEDGER]
    body = await json_object(request, '{"by": "op1001"}', optional=True)
    by = _text_field(body, "by", 64) or "api"
    note = _text_field(body, "note", 500)
    task_id = int(request.match_info["task_id"])
    now = ledger.clock()
    try:
        if cancel:
            task = await ledger.repo.cancel(task_id, by, now)
        else:
            task = await ledger.repo.done(task_id, by, now, note)
    except TaskClosedError as exc:
        raise ApiError(
            409,
            "callback_closed",
            f"callback task {task_id} is already {exc.task.state.value}",
            {"state": exc.task.state.value, "close_reason": exc.task.close_reason},
        ) from None
    if task is None:
        raise ApiError(404, "callback_not_found", f"no callback task {task_id}")
    return json_response(task_json(task, now))


def _text_field(body: dict[str, Any], name: str, longest: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > longest:
        raise ApiError(
            422, f"bad_{name}", f"{name} must be a string of at most {longest} characters"
        )
    return value or None


async def callbacks_summary(request: web.Request) -> web.Response:
    """Figures for supervisors over the last `days` days (default 7; 0: all history)."""
    ledger = request.app[LEDGER]
    days = int_param(request, "days", _SUMMARY_DAYS, 0, 3660)
    now = ledger.clock()
    since = None if days == 0 else now - timedelta(days=days)
    return json_response(summary_json(await ledger.repo.summary(now, since)))
