"""One report query, shared by `clinic-router report` and `GET /api/reports/...`: the
period and options, read from the store, built by the pure core, shaped as one body."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from router.config.rules import Rules
from router.domain.reports import CallGroup, Change, Report, compare
from router.domain.reports.export import Section, section_rows
from router.domain.reports.period import PeriodError, parse_period, previous
from router.domain.reports.staffing import Goal, staffing_of
from router.storage.store import Store


@dataclass(frozen=True, slots=True)
class ReportQuery:
    period: tuple[datetime, datetime]
    now: datetime
    tz: tzinfo
    by: CallGroup | None = None
    sl_target_s: float = 20.0  # queues without a target of their own; staffing's goal
    overdue_after_s: float = 1800.0
    branches: Mapping[str, str] = field(default_factory=dict)  # line -> branch (rules)
    # Each queue's own service-level target by what its callers waited for ("queue dms":
    # the journey's `waiting` event), from the rules in force (`queue_targets`).
    sl_targets: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, start: str | None, end: str | None, tz: tzinfo, now: datetime, **options: Any
    ) -> ReportQuery:
        """Raises `PeriodError` for a period that cannot be read. A default end is `now`
        to the second (microseconds only clutter the period's printed ends)."""
        now = now.replace(microsecond=0)
        return cls(parse_period(start, end, tz, now), now, tz, **options)


def queue_targets(rules: Rules | None) -> dict[str, float]:
    """The queues' `service_level_s` of `rules`, keyed as `ReportQuery.sl_targets`: the
    reports measure each queue against the target the wallboard shows for it."""
    if rules is None:
        return {}
    queues = rules.queues.values()
    return {f"queue {q.id}": float(q.service_level_s) for q in queues if q.service_level_s}


def check_length(period: tuple[datetime, datetime], max_days: int) -> None:
    """`PeriodTooLongError` when `period` is longer than `max_days` (the API and the
    console cap what one request may read; the CLI does not)."""
    days = (period[1] - period[0]) / timedelta(days=1)
    if days > max_days:
        raise PeriodTooLongError(
            f"the period is {days:g} days long; at most {max_days} days can be reported at"
            " once (console.report_max_days): ask for a shorter one"
        )


class PeriodTooLongError(PeriodError):
    pass


def csv_filename(name: str, query: ReportQuery) -> str:
    """`calls-20261130-20261207.csv`: what the API and the console name a CSV download."""
    return f"{name}-{query.period[0]:%Y%m%d}-{query.period[1]:%Y%m%d}.csv"


async def report_of(store: Store, query: ReportQuery, period: tuple[datetime, datetime]) -> Report:
    # The database sums the calls and rings (a year's report turns no call row into a
    # Python object); the figures are `build_report`'s (test_storage_report_sql.py), and
    # the pure part left runs on a worker thread, away from the event loop.
    return await store.reports.report(
        period,
        query.now,
        query.tz,
        group=query.by,
        sl_targets=query.sl_targets,
        default_sl_s=query.sl_target_s,
        overdue_after_s=query.overdue_after_s,
        branches=query.branches,
    )


async def section_body(store: Store, query: ReportQuery, section: Section) -> dict[str, Any]:
    """`{"section", "start", "end", "rows"}`; `compare` adds the previous period's ends."""
    # The period before first: one off the calendar is refused before a long read.
    before = previous(query.period) if section == "compare" else None
    report = await report_of(store, query, query.period)
    body: dict[str, Any] = {
        "section": section,
        "start": query.period[0].isoformat(),
        "end": query.period[1].isoformat(),
    }
    changes: tuple[Change, ...] = ()
    if before is not None:
        changes = tuple(compare(report, await report_of(store, query, before)))
        body.update(previous_start=before[0].isoformat(), previous_end=before[1].isoformat())
    body["rows"] = section_rows(report, section, changes)
    return body


async def staffing_body(
    store: Store, query: ReportQuery, goal_level: float, patience_s: float | None
) -> dict[str, Any]:
    """Operators needed per hour of the week (hours with calls or someone on duty). The
    hours' calls are summed across queues, so the goal's target is the default one
    (`sl_target_s`: `--sl-target`, else `console.service_level_s`), not a queue's."""
    sums = await store.reports.staffing(query.period, query.tz, query.now)  # by the database
    goal = Goal(query.sl_target_s, goal_level)
    rows = await asyncio.to_thread(staffing_of, sums, query.period, query.tz, goal, patience_s)
    return {
        "section": "staffing",
        "start": query.period[0].isoformat(),
        "end": query.period[1].isoformat(),
        "goal": {"target_s": goal.target_s, "level": goal.level},
        "rows": [asdict(r) for r in rows if r.calls_per_hour or r.on_duty],
    }
