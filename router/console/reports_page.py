"""The reports page (supervisors and admins): a period's figures as the CLI and
`GET /api/reports/...` give them, with charts drawn in the browser by uPlot (vendored in
`static/`, MIT) from the series of `router.domain.reports.charts`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from router.console.deps import CONSOLE
from router.console.guard import viewer
from router.console.render import page
from router.domain.console_access import Permission
from router.domain.reports.charts import chart_data, labelled_waits, staffing_series
from router.domain.reports.export import section_rows
from router.domain.reports.period import PeriodError
from router.domain.reports.report import PeriodSums, report_of_sums
from router.domain.reports.staffing import Goal, StaffingSums, staffing_of
from router.report_view import ReportQuery, check_length

STAFFING_GOAL = 0.8  # the chart's goal; `clinic-router staffing --goal` sets another


async def reports_page(request: web.Request) -> web.Response:
    viewer(request, Permission.WALLBOARD)
    deps = request.app[CONSOLE]
    settings = deps.settings
    start, end = request.query.get("from") or None, request.query.get("to") or None
    try:
        query = ReportQuery.parse(
            start, end, ZoneInfo(settings.timezone), datetime.now(UTC), by="hour",
            sl_target_s=settings.service_level_s,
            overdue_after_s=settings.callback_overdue_min * 60,
        )  # fmt: skip
        check_length(query.period, settings.report_max_days)
    except PeriodError as exc:
        failed: dict[str, object] = {"error": str(exc), "start": start or "", "end": end or ""}
        return await page(request, "reports.html", failed, status=400)
    # Summed by the database (the same sums as the CLI's and the API's), the calls read
    # once for the report and the staffing chart; the figures off the event loop.
    sums, needs = await deps.store.reports.sums(
        query.period, query.now, query.tz, group="hour", default_sl_s=query.sl_target_s,
        overdue_after_s=query.overdue_after_s, staffing=True,
    )  # fmt: skip
    assert needs is not None  # asked for
    context = await asyncio.to_thread(_figures, sums, needs, query)
    return await page(request, "reports.html", {**context, "start": start or "", "end": end or ""})


def _figures(sums: PeriodSums, needs: StaffingSums, query: ReportQuery) -> dict[str, object]:
    report = report_of_sums(sums, query.period, query.tz, group="hour")
    goal = Goal(query.sl_target_s, STAFFING_GOAL)
    needed = staffing_of(needs, query.period, query.tz, goal)
    return {
        "error": None,
        "period": query.period,
        "total": report.total,
        "operators": section_rows(report, "operators"),
        "misses": report.misses,
        "charts": {
            **chart_data(report, labelled_waits(sums.total.wait_buckets)),
            "staffing": staffing_series(needed),
        },
        "sl_target_s": query.sl_target_s,
    }
