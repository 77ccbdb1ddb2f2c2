"""Routes of the HTTP API.

`GET /health` is open (no personal data: it tells a load balancer or systemd whether the
router is usable); everything under `/api/` and `GET /metrics` (Prometheus) need the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from router.domain.operators import SETTABLE, OperatorStatus, Presence
from router.engine.board import OperatorBoard, UnknownOperator
from router.engine.recorder import WriteHealth
from router.http.audit import add_audit_routes
from router.http.auth import token_middleware
from router.http.callbacks import add_callback_routes
from router.http.errors import ApiError, error_middleware
from router.http.health import StorageState, health_body
from router.http.json_io import int_param, json_object, json_response, time_param
from router.http.metrics import RouterMetrics, add_metrics_route
from router.http.patients import parse_phone, phone_json
from router.http.reports import ReportDefaults, add_report_routes
from router.http.server_log import server_args
from router.report_view import queue_targets


@dataclass(frozen=True)
class ApiDeps:
    rules: Any  # router.config.live_rules.LiveRules (describe(), reload())
    store: Any  # router.storage.store.Store
    board: OperatorBoard
    ari_connected: Callable[[], bool]
    rules_version: Callable[[], str | None]
    recorder_backlog: Callable[[], int]
    db_ping: Callable[[], Awaitable[bool]]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # ages and closing times
    writes: Callable[[], WriteHealth] | None = None  # the journal writer's health
    db_file_problem: Callable[[], str | None] = lambda: None  # SQLite file not the one opened
    reports: ReportDefaults = field(default_factory=ReportDefaults)  # zone, SL target
    # Asterisk's state of an operator's endpoint (router/engine/endpoint_states.py)
    endpoint_state: Callable[[str], str | None] = lambda _endpoint: None

    async def storage(self) -> StorageState:
        reachable = await self.db_ping()
        writes = None if self.writes is None else self.writes()
        return StorageState(reachable, self.db_file_problem(), writes)


DEPS = web.AppKey("deps", ApiDeps)


def build_app(deps: ApiDeps, token: str, metrics: RouterMetrics | None = None) -> web.Application:
    """The API; `/metrics` serves `metrics` (default: without the engine's figures)."""
    app = web.Application(
        middlewares=[error_middleware, token_middleware(token)],  # type: ignore[list-item]
        client_max_size=64 * 1024,
        handler_args=server_args(),
    )
    app[DEPS] = deps
    app.router.add_get("/health", health)
    app.router.add_get("/api/calls", list_calls)
    app.router.add_get("/api/calls/{call_id}", get_call)
    app.router.add_get("/api/operators", list_operators)
    app.router.add_put("/api/operators/{operator_id}/state", set_operator_state)
    app.router.add_get("/api/patients", get_patients)
    app.router.add_get("/api/rules", get_rules)
    app.router.add_post("/api/rules/reload", reload_rules)
    add_callback_routes(app, deps.store.callbacks, deps.clock)
    add_audit_routes(app, deps.store.audit)
    add_report_routes(
        app, deps.store, deps.clock, deps.reports, lambda: _branches(deps.rules),
        lambda: queue_targets(deps.rules.current if deps.rules else None),
    )  # fmt: skip
    add_metrics_route(app, metrics or RouterMetrics())
    return app


def _branches(rules: Any) -> dict[str, str]:
    """Each line's branch in the rules in force (none without rules)."""
    if rules is None:
        return {}
    return {line.id: line.branch for line in rules.current.lines if line.branch}


async def health(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ari_ok = deps.ari_connected()
    body = health_body(
        ari_connected=ari_ok,
        storage=await deps.storage(),
        rules_version=deps.rules_version(),
        backlog=deps.recorder_backlog(),
    )
    return json_response(body, 200 if ari_ok else 503)


async def list_calls(request: web.Request) -> web.Response:
    """Calls newest first with their journeys; `since` bounds them, `limit` sizes a page
    and `next` holds the parameters of the next page (`before`, `before_id`), or null."""
    deps = request.app[DEPS]
    limit = int_param(request, "limit", 50, 1, 500)
    since = time_param(request, "since")
    before = time_param(request, "before")
    before_id = request.query.get("before_id")
    if before_id is not None and before is None:
        raise ApiError(400, "bad_parameter", "before_id needs before")
    rows = await deps.store.calls.recent(
        limit=limit, before=before, before_id=before_id, since=since
    )
    journeys = await deps.store.calls.events_of([row.id for row in rows])
    page = [_call_json(row, journeys[row.id]) for row in rows]
    last = rows[-1] if len(rows) == limit else None
    after = None if last is None else {"before": last.started_at, "before_id": last.id}
    return json_response({"calls": page, "next": after})


async def get_call(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    call_id = request.match_info["call_id"]
    row = await deps.store.calls.get(call_id)
    if row is None:
        raise ApiError(404, "call_not_found", f"no call {call_id!r}")
    events = await deps.store.calls.events(call_id)
    attempts = await deps.store.calls.ring_attempts(call_id)
    body = _call_json(row, events)
    body["ring_attempts"] = [
        {
            "operator": a.operator_id,
            "started_at": a.started_at,
            "ended_at": a.ended_at,
            "result": a.result,
            "duration_ms": a.duration_ms,
        }
        for a in attempts
    ]
    return json_response(body)


def _call_json(row: Any, events: list[Any]) -> dict[str, object]:
    return {
        "id": row.id,
        "caller": row.caller_e164,
        "caller_raw": row.caller_raw,
        "did": row.did,
        "patient_id": row.patient_id,
        "started_at": row.started_at,
        "answered_at": row.answered_at,
        "ended_at": row.ended_at,
        "phase": row.phase,
        "outcome": row.outcome,
        "operator_id": row.operator_id,
        "rules_version": row.rules_version,
        "tried_operators": list(row.tried_operators or []),
        "journey": [{"at": e.at, "kind": e.kind, "data": e.data} for e in events],
    }


def _operator_json(
    status: OperatorStatus, endpoint_state: Callable[[str], str | None] = lambda _e: None
) -> dict[str, object]:
    op = status.operator
    return {
        "id": op.id,
        "name": op.name,
        "endpoint": op.endpoint,
        "team": op.team,
        "branch": op.branch,
        "skills": dict(op.skills),
        "languages": list(op.languages),
        "state": status.presence.value,
        "reason": status.reason,
        # Asked for during a call: applied when it ends (docs/operations.md, "Presence").
        "pending": None
        if status.pending is None
        else {"state": status.pending.presence.value, "reason": status.pending.reason},
        "calls_today": status.calls_today,
        "consecutive_no_answers": status.no_answers,
        # Asterisk's view of the phone: online, offline (unreachable), unknown (no
        # qualify), missing (no such endpoint), null (Asterisk not asked yet)
        "endpoint_state": endpoint_state(op.endpoint),
    }


async def list_operators(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    statuses = deps.board.statuses()
    return json_response({"operators": [_operator_json(s, deps.endpoint_state) for s in statuses]})


async def set_operator_state(request: web.Request) -> web.Response:
    board = request.app[DEPS].board
    operator_id = request.match_info["operator_id"]
    body = await json_object(request, '{"state": "paused", "reason": "lunch"}')
    if not isinstance(body.get("state"), str):
        raise ApiError(400, "bad_request", 'expected {"state": ..., "reason": ...}')
    allowed = sorted(p.value for p in SETTABLE)
    try:
        presence = Presence(body["state"])
    except ValueError:
        presence = None
    if presence is None or presence not in SETTABLE:
        raise ApiError(
            422, "bad_state", f"state must be one of {', '.join(allowed)}", {"allowed": allowed}
        )
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        raise ApiError(422, "bad_reason", "reason must be a string of at most 64 characters")
    try:
        status = board.request_state(operator_id, presence, reason)
    except UnknownOperator:
        raise ApiError(404, "operator_not_found", f"no operator {operator_id!r}") from None
    return json_response(_operator_json(status, request.app[DEPS].endpoint_state))


async def get_patients(request: web.Request) -> web.Response:
    """Every patient on `?phone=` (any common notation), with appointments and last
    contact; an empty list when the number is valid but unknown."""
    e164 = parse_phone(request.query.get("phone"))
    records = await request.app[DEPS].store.patients.find_by_phone(e164)
    return json_response(phone_json(e164, records))


async def get_rules(request: web.Request) -> web.Response:
    """The rules in force (version = content hash, load time) and the last rejected edit."""
    return json_response(request.app[DEPS].rules.describe())


async def reload_rules(request: web.Request) -> web.Response:
    live = request.app[DEPS].rules
    result = await live.reload("api")
    if not result.ok:
        raise ApiError(
            422,
            "rules_rejected",
            f"the rules file has errors; still serving version {result.version}",
            {"errors": list(result.errors)},
        )
    return json_response({"changed": result.changed, **live.describe()})
