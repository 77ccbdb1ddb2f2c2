"""The whole report of a period, and one period against another: what the CLI, the
HTTP API and the console all show (they call `build_report`, never their own sums)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from typing import Any

from router.domain.reports.callbacks import MissFigures, MissSums, misses_of, misses_report
from router.domain.reports.calls import (
    DEFAULT_SL_TARGET_S,
    CallFigures,
    CallGroup,
    CallSums,
    call_figures,
    calls_by,
    figures_of,
    grouped_figures,
)
from router.domain.reports.operators import (
    OperatorFigures,
    OperatorSums,
    StateSums,
    operators_of,
    operators_report,
)
from router.domain.reports.records import (
    CallRecord,
    MissRecord,
    RingRecord,
    StateSpan,
    TaskRecord,
)


@dataclass(frozen=True, slots=True)
class ReportData:
    """A period's rows: calls started in it, their rings, its misses, the tasks of its
    misses, those closed in it and every active one, and the operators' state spans
    (None: not recorded)."""

    calls: Sequence[CallRecord]
    rings: Sequence[RingRecord]
    misses: Sequence[MissRecord]
    tasks: Sequence[TaskRecord]
    spans: Sequence[StateSpan] | None = None


@dataclass(frozen=True, slots=True)
class Report:
    start: datetime
    end: datetime
    total: CallFigures
    groups: tuple[CallFigures, ...]
    group: CallGroup | None
    operators: tuple[OperatorFigures, ...]
    misses: MissFigures

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "calls": calls_json(self.total),
            "group": self.group,
            "groups": [calls_json(g) for g in self.groups],
            "operators": [asdict(o) for o in self.operators],
            "misses": asdict(self.misses),
        }


def calls_json(figures: CallFigures) -> dict[str, Any]:
    return {**asdict(figures), "abandoned": figures.abandoned}


def build_report(
    data: ReportData,
    period: tuple[datetime, datetime],
    now: datetime,
    tz: tzinfo,
    *,
    group: CallGroup | None = None,
    sl_targets: Mapping[str, float] | None = None,
    default_sl_s: float = DEFAULT_SL_TARGET_S,
    overdue_after_s: float = 3600.0,
    branches: Mapping[str, str] | None = None,
) -> Report:
    """Every figure of the period `[start, end)` from plain rows (see `ReportData`)."""
    # A call with a call row (one the router handed to the fallback) is counted once, as
    # a call, in the period it started in: its fallback miss, even one after the period's
    # start (started 23:59:50, missed 00:00:30), is not a call of its own.
    seen = {c.id for c in data.calls}
    fallback = [
        m
        for m in data.misses
        if m.source == "fallback" and not m.call_recorded and m.call_id not in seen
    ]
    total = call_figures("total", data.calls, fallback, sl_targets, default_sl_s)
    groups = (
        calls_by(group, data.calls, fallback, tz, sl_targets, default_sl_s, branches)
        if group
        else []
    )
    operators = operators_report(data.rings, data.calls, data.tasks, period, data.spans, now)
    misses = misses_report(data.misses, data.tasks, period, now, overdue_after_s)
    return Report(period[0], period[1], total, tuple(groups), group, tuple(operators), misses)


@dataclass(frozen=True, slots=True)
class PeriodSums:
    """A period's figures summed by the database (`router/storage/report_sql.py`,
    `report_ledger_sql.py`): calls (total, per group and each group's first call), rings
    and talk per operator, callbacks worked per operator, time in each state (None: no
    state history), the misses and tasks, and the fallback's misses of calls the router
    never saw (read as rows: there are few)."""

    total: CallSums
    groups: Mapping[str, CallSums]
    first: Mapping[str, datetime]  # each group's first call
    operators: Mapping[str, OperatorSums]
    callbacks: Mapping[str, int]
    states: StateSums | None
    misses: MissSums
    fallback_misses: Sequence[MissRecord] = ()


def report_of_sums(
    sums: PeriodSums,
    period: tuple[datetime, datetime],
    tz: tzinfo,
    *,
    group: CallGroup | None = None,
    branches: Mapping[str, str] | None = None,
) -> Report:
    """`build_report` from sums instead of records: the same figures, made by the same
    functions."""
    fallback = sums.fallback_misses
    total = figures_of("total", sums.total, len(fallback))
    groups = (
        grouped_figures(group, sums.groups, sums.first, fallback, tz, branches) if group else []
    )
    operators = operators_of(dict(sums.operators), sums.callbacks, sums.states)
    misses = misses_of(sums.misses)
    return Report(period[0], period[1], total, tuple(groups), group, tuple(operators), misses)


@dataclass(frozen=True, slots=True)
class Change:
    figure: str
    current: float | None
    previous: float | None
    change: float | None  # relative: -0.33 is a third less


COMPARED_CALLS = (
    "offered", "answered", "abandoned", "no_operator", "service_level", "asa_s",
    "wait_p50_s", "wait_p90_s", "talk_avg_s", "route_known_s", "route_unknown_s",
)  # fmt: skip
COMPARED_MISSES = ("misses", "tasks_created", "reached", "unreachable", "worked_share")


def compare(current: Report, previous: Report) -> list[Change]:
    """The headline figures of `current` against `previous` (this week against last)."""
    cur, prev = calls_json(current.total), calls_json(previous.total)
    pairs = [(f"calls.{k}", cur[k], prev[k]) for k in COMPARED_CALLS]
    mcur, mprev = asdict(current.misses), asdict(previous.misses)
    pairs += [(f"misses.{k}", mcur[k], mprev[k]) for k in COMPARED_MISSES]
    return [Change(name, a, b, _relative(a, b)) for name, a, b in pairs]


def _relative(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return round((current - previous) / previous, 4)
