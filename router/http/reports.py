"""`GET /api/reports/{calls,operators,misses,compare}`: a period's figures, the same body
`clinic-router report <section> --format json` prints (`router.report_view`).

Query: `from`, `to` (a date is a whole local day; a time without offset is local), `tz`,
`by` (calls: line, queue, day, hour, hour_of_week), `sl_target` (seconds: every queue
against it; without it each queue's `service_level_s` from the rules in force, else
`console.service_level_s`), `format=csv` for a spreadsheet. `GET /api/reports/staffing`
(as `clinic-router staffing`) also takes `goal` (a share below 1) and `patience`. A
period longer than `console.report_max_days` (366) is refused
with 400 `period_too_long`. Errors use the API's one JSON shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from router.domain.reports import CALL_GROUPS
from router.domain.reports.export import SECTIONS, Section, to_csv
from router.domain.reports.period import PeriodError
from router.http.errors import ApiError
from router.http.json_io import json_response
from router.report_view import (
    PeriodTooLongError,
    ReportQuery,
    check_length,
    csv_filename,
    section_body,
    staffing_body,
)
from router.storage.store import Store

_SECTION = "/api/reports/{section:" + "|".join(SECTIONS) + "}"


@dataclass(frozen=True, slots=True)
class ReportDefaults:
    """From the settings' `console` section, so the API agrees with the wallboard."""

    timezone: str = "Europe/Moscow"
    sl_target_s: float = 20.0
    overdue_after_s: float = 1800.0
    max_days: int = 366  # console.report_max_days: a longer period is refused (400)


@dataclass(frozen=True)
class _Reports:
    store: Store
    clock: Callable[[], datetime]
    defaults: ReportDefaults
    branches: Callable[[], Mapping[str, str]]  # line -> branch, from the rules in force
    sl_targets: Callable[[], Mapping[str, float]]  # `report_view.queue_targets`, in force


REPORTS = web.AppKey("reports", _Reports)


def add_report_routes(
    app: web.Application,
    store: Store,
    clock: Callable[[], datetime],
    defaults: ReportDefaults | None = None,
    branches: Callable[[], Mapping[str, str]] = dict,
    sl_targets: Callable[[], Mapping[str, float]] = dict,
) -> None:
    app[REPORTS] = _Reports(store, clock, defaults or ReportDefaults(), branches, sl_targets)
    app.router.add_get("/api/reports/staffing", get_staffing)
    app.router.add_get(_SECTION, get_report)


async def get_report(request: web.Request) -> web.Response:
    reports = request.app[REPORTS]
    section: Section = request.match_info["section"]  # type: ignore[assignment]
    query = _query(request, reports)
    try:
        body = await section_body(reports.store, query, section)
    except PeriodError as exc:  # compare: the period before is off the calendar
        raise _bad(exc.parameter or "from", str(exc)) from None
    return _respond(request, body, section, query)


async def get_staffing(request: web.Request) -> web.Response:
    """Operators needed per hour of the week: `goal` (share, default 0.8) answered within
    `sl_target`; `patience` (s) replaces the measured mean patience."""
    reports = request.app[REPORTS]
    query = _query(request, reports)
    # A share strictly below 1: a goal of 100 % has no finite number of operators.
    goal = _number(request, "goal", 0.8, 0.0, 1.0, below=True) or 0.8  # has a default
    patience = _number(request, "patience", None, 0.0, 86400.0)
    body = await staffing_body(reports.store, query, goal, patience)
    return _respond(request, body, "staffing", query)


def _number(
    request: web.Request,
    name: str,
    default: float | None,
    above: float,
    upto: float,
    *,
    below: bool = False,
) -> float | None:
    """An optional number in (`above`, `upto`] (`below`: `upto` excluded); else a 400
    naming the parameter."""
    if name not in request.query:
        return default
    try:
        value = float(request.query[name])
    except ValueError:
        value = above
    if not above < value <= upto or (below and value == upto):
        most = f"below {upto:g}" if below else f"at most {upto:g}"
        raise _bad(name, f"{name} must be a number above {above:g}, {most}")
    return value


def _respond(
    request: web.Request, body: dict[str, Any], name: str, query: ReportQuery
) -> web.Response:
    if request.query.get("format", "json") == "csv":
        filename = csv_filename(name, query)
        return web.Response(
            text=to_csv(body["rows"], name),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return json_response(body)


def _query(request: web.Request, reports: _Reports) -> ReportQuery:
    q, d = request.query, reports.defaults
    if q.get("format", "json") not in ("json", "csv"):
        raise _bad("format", "format must be json or csv")
    try:
        tz = ZoneInfo(q.get("tz", d.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("tz", "unknown time zone (like Europe/Moscow)") from None
    by = q.get("by")
    if by is not None and by not in CALL_GROUPS:
        raise _bad("by", f"by must be one of {', '.join(CALL_GROUPS)}")
    target = _number(request, "sl_target", None, 0.0, 3600.0)
    try:
        query = ReportQuery.parse(
            q.get("from"), q.get("to"), tz, reports.clock(), by=by,
            branches=reports.branches() if by == "branch" else {},
            sl_target_s=target or d.sl_target_s,
            sl_targets=reports.sl_targets() if target is None else {},
            overdue_after_s=d.overdue_after_s,
        )  # fmt: skip
    except PeriodError as exc:
        raise _bad(exc.parameter or "from", str(exc)) from None
    try:
        check_length(query.period, d.max_days)
    except PeriodTooLongError as exc:
        details = {"parameter": "from", "max_days": d.max_days}
        raise ApiError(400, "period_too_long", str(exc), details) from None
    return query


def _bad(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_parameter", message, {"parameter": name})
