"""One report query, shared by `clinic-router report` and `GET /api/reports/...`: the
period and options, read from the store, built by the pure core, shaped as one body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from router.domain.reports import CallGroup, Change, Report, build_report, compare
from router.domain.reports.export import Section, section_rows
from router.domain.reports.period import parse_period, previous
from router.storage.store import Store


@dataclass(frozen=True, slots=True)
class ReportQuery:
    period: tuple[datetime, datetime]
    now: datetime
    tz: tzinfo
    by: CallGroup | None = None
    sl_target_s: float = 20.0
    overdue_after_s: float = 1800.0

    @classmethod
    def parse(
        cls, start: str | None, end: str | None, tz: tzinfo, now: datetime, **options: Any
    ) -> ReportQuery:
        """Raises `PeriodError` for a period that cannot be read."""
        return cls(parse_period(start, end, tz, now), now, tz, **options)


async def report_of(store: Store, query: ReportQuery, period: tuple[datetime, datetime]) -> Report:
    data = await store.reports.period(*period)
    return build_report(
        data,
        period,
        query.now,
        query.tz,
        group=query.by,
        default_sl_s=query.sl_target_s,
        overdue_after_s=query.overdue_after_s,
    )


async def section_body(store: Store, query: ReportQuery, section: Section) -> dict[str, Any]:
    """`{"section", "start", "end", "rows"}`; `compare` adds the previous period's ends."""
    report = await report_of(store, query, query.period)
    body: dict[str, Any] = {
        "section": section,
        "start": query.period[0].isoformat(),
        "end": query.period[1].isoformat(),
    }
    changes: tuple[Change, ...] = ()
    if section == "compare":
        before = previous(query.period)
        changes = tuple(compare(report, await report_of(store, query, before)))
        body.update(previous_start=before[0].isoformat(), previous_end=before[1].isoformat())
    body["rows"] = section_rows(report, section, changes)
    return body
