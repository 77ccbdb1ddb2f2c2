"""The reports page (supervisors and admins): a period's figures as the CLI and
`GET /api/reports/...` give them (every section, built from the same rows:
`router.domain.reports.export.section_rows`), with charts drawn in the browser by uPlot
(vendored in `static/`, MIT) from the series of `router.domain.reports.charts`, and each
section as CSV with the session's permission (`/console/reports/<section>.csv`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from aiohttp import web

from router.console import report_tables as tables
from router.console.deps import CONSOLE, ConsoleDeps
from router.console.guard import viewer
from router.console.render import page
from router.domain.console_access import Permission
from router.domain.reports import CALL_GROUPS, CallGroup, compare
from router.domain.reports.charts import chart_data, labelled_waits, staffing_series
from router.domain.reports.export import SECTIONS, Section, section_rows, to_csv
from router.domain.reports.period import PeriodError, previous
from router.domain.reports.report import PeriodSums, report_of_sums
from router.domain.reports.staffing import Goal, StaffingSums, staffing_of
from router.report_view import (
    ReportQuery,
    check_length,
    csv_filename,
    queue_targets,
    section_body,
    staffing_body,
)

STAFFING_GOAL = 0.8  # the chart's goal; `clinic-router staffing --goal` sets another
CSV_SECTIONS = (*SECTIONS, "staffing")


async def reports_page(request: web.Request) -> web.Response:
    viewer(request, Permission.WALLBOARD)
    deps = request.app[CONSOLE]
    form = {k: request.query.get(k) or "" for k in ("from", "to", "by")}
    context: dict[str, object] = {"start": form["from"], "end": form["to"], "by": form["by"]}
    context |= {"by_choices": tables.BY_CHOICES, "csv_sections": CSV_SECTIONS}
    try:
        query = _query(request, deps)
    except PeriodError as exc:
        return await page(request, "reports.html", {**context, "error": str(exc)}, status=400)
    # Summed by the database (the same sums as the CLI's and the API's): the calls read
    # once for the table (by the chosen grouping), the hours' chart and the staffing
    # chart; the previous period's sums for the compare; the figures off the event loop.
    options: dict[str, Any] = {
        "sl_targets": query.sl_targets,
        "default_sl_s": query.sl_target_s,
        "overdue_after_s": query.overdue_after_s,
        "branches": query.branches,
    }
    before = previous(query.period)
    (sums, hours), needs = await deps.store.reports.sums_by(
        query.period, query.now, query.tz, [query.by, "hour"], staffing=True, **options
    )
    (earlier,), _ = await deps.store.reports.sums_by(before, query.now, query.tz, [None], **options)
    assert needs is not None  # asked for
    figures = await asyncio.to_thread(_figures, sums, hours, earlier, needs, query)
    return await page(request, "reports.html", {**context, **figures, "previous": before})


async def reports_csv(request: web.Request) -> web.Response:
    """One section as CSV, the API's `?format=csv` (same rows, same export code) with the
    console's session instead of the API's token."""
    viewer(request, Permission.WALLBOARD)
    deps = request.app[CONSOLE]
    section = request.match_info["section"]
    try:
        query = _query(request, deps)
    except PeriodError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    if section == "staffing":
        body = await staffing_body(deps.store, query, STAFFING_GOAL, None)
    else:
        body = await section_body(deps.store, query, cast(Section, section))
    return web.Response(
        text=to_csv(body["rows"], section),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{csv_filename(section, query)}"'},
    )


def _query(request: web.Request, deps: ConsoleDeps) -> ReportQuery:
    """The period and options of `from`, `to`, `by`; `PeriodError` says what is wrong."""
    settings = deps.settings
    start, end = request.query.get("from") or None, request.query.get("to") or None
    by = _by(request.query.get("by") or "total")
    query = ReportQuery.parse(
        start, end, ZoneInfo(settings.timezone), datetime.now(UTC), by=by,
        branches=_branches(deps) if by == "branch" else {},
        sl_target_s=settings.service_level_s,
        sl_targets=queue_targets(deps.rules.current if deps.rules else None),
        overdue_after_s=settings.callback_overdue_min * 60,
    )  # fmt: skip
    check_length(query.period, settings.report_max_days)
    return query


def _by(text: str) -> CallGroup | None:
    if text == "total":
        return None
    if text not in CALL_GROUPS:
        raise PeriodError(f"by: {text!r}: expected one of total, {', '.join(CALL_GROUPS)}")
    return text


def _branches(deps: ConsoleDeps) -> dict[str, str]:
    """Each line's branch in the rules in force (none without rules)."""
    if deps.rules is None:
        return {}
    return {line.id: line.branch for line in deps.rules.current.lines if line.branch}


def _figures(
    sums: PeriodSums,
    hours: PeriodSums,
    earlier: PeriodSums,
    needs: StaffingSums,
    query: ReportQuery,
) -> dict[str, object]:
    report = report_of_sums(sums, query.period, query.tz, group=query.by, branches=query.branches)
    by_hour = report_of_sums(hours, query.period, query.tz, group="hour")
    before = report_of_sums(earlier, previous(query.period), query.tz)
    goal = Goal(query.sl_target_s, STAFFING_GOAL)
    needed = staffing_of(needs, query.period, query.tz, goal)
    operators = section_rows(report, "operators")
    first = tables.Column("key", query.by or "", "")
    return {
        "error": None,
        "period": query.period,
        "total": report.total,
        "misses": report.misses,
        "calls": tables.table(section_rows(report, "calls"), tables.CALLS, first),
        "operators": tables.table(
            operators, tables.OPERATORS, tables.Column("operator_id", "operator", "")
        ),
        "miss_groups": tables.figure_groups(section_rows(report, "misses")),
        "compare": tables.compare_rows(section_rows(report, "compare", compare(report, before))),
        "charts": {
            **chart_data(by_hour, labelled_waits(sums.total.wait_buckets)),
            "staffing": staffing_series(needed),
        },
        "sl_target_s": query.sl_target_s,
        "cell": tables.cell,
    }
