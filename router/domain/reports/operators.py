"""Operator figures: who was rung, who answered, who let it ring out — the operator
who does not pick up comes first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from router.domain.reports.records import CallRecord, RingRecord, StateSpan, TaskRecord
from router.domain.reports.stats import mean, percentile, rounded, share

PAUSED, WRAP_UP = "paused", "wrap_up"
NO_REASON = "-"


@dataclass(frozen=True, slots=True)
class OperatorFigures:
    operator_id: str
    rings: int  # offered: every time their phone rang for a call
    answered: int
    rang_out: int  # let it ring until the ring timeout
    rejected: int  # busy: declined on the phone, or already on another call
    unavailable: int  # could not be dialled (phone unregistered)
    caller_left: int  # the caller hung up while it rang: not held against them
    answer_rate: float | None  # answered / (rings - caller_left)
    answer_p50_s: float | None  # time to answer
    answer_avg_s: float | None
    talk_avg_s: float | None
    talk_total_s: float
    wrap_up_s: float | None  # None: no state history for the period
    paused_s: dict[str, float] | None = field(default=None)  # by reason
    callbacks_worked: int = 0


@dataclass(slots=True)
class _Tally:
    results: list[str | None] = field(default_factory=list)
    answer_s: list[float] = field(default_factory=list)
    talks: list[float] = field(default_factory=list)
    wrap_up: float = 0.0
    paused: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    callbacks: int = 0


def operators_report(
    rings: Iterable[RingRecord],
    calls: Iterable[CallRecord],
    tasks: Iterable[TaskRecord],
    period: tuple[datetime, datetime],
    spans: Sequence[StateSpan] | None = None,
) -> list[OperatorFigures]:
    """One row per operator seen in the period; the lowest answer rate first (then the
    most rings let ring out). `spans`: their state history (None: not recorded, so wrap-up
    and pause time are None rather than a misleading 0), clipped to `period`. A pause asked
    for during a call counts from when it took effect, after the call."""
    tally: dict[str, _Tally] = defaultdict(_Tally)
    for r in rings:
        t = tally[r.operator_id]
        t.results.append(r.result)
        if r.result == "answered" and r.duration_ms is not None:
            t.answer_s.append(r.duration_ms / 1000)
    for c in calls:
        if c.operator_id and c.answered_at and c.ended_at:
            tally[c.operator_id].talks.append((c.ended_at - c.answered_at).total_seconds())
    start, end = period
    for task in tasks:
        if task.worked_by and task.closed_at and start <= task.closed_at < end:
            tally[task.worked_by].callbacks += 1
    for s in spans or ():
        seconds = overlap_s(s, start, end)
        if s.state == WRAP_UP:
            tally[s.operator_id].wrap_up += seconds
        elif s.state == PAUSED and seconds > 0:
            tally[s.operator_id].paused[s.reason or NO_REASON] += seconds
    rows = [_figures(op, t, spans is not None) for op, t in tally.items()]
    return sorted(rows, key=_worst_first)


def overlap_s(span: StateSpan, start: datetime, end: datetime) -> float:
    stop = min(span.end or end, end)
    return max(0.0, (stop - max(span.start, start)).total_seconds())


def _figures(op: str, t: _Tally, history: bool) -> OperatorFigures:
    count = t.results.count
    left = count("cancelled")
    answered = count("answered")
    return OperatorFigures(
        operator_id=op,
        rings=len(t.results),
        answered=answered,
        rang_out=count("no_answer"),
        rejected=count("busy"),
        unavailable=count("unavailable") + count("failed"),
        caller_left=left,
        answer_rate=rounded(share(answered, len(t.results) - left), 4),
        answer_p50_s=rounded(percentile(t.answer_s, 50)),
        answer_avg_s=rounded(mean(t.answer_s)),
        talk_avg_s=rounded(mean(t.talks)),
        talk_total_s=round(sum(t.talks), 1),
        wrap_up_s=round(t.wrap_up, 1) if history else None,
        paused_s={k: round(v, 1) for k, v in sorted(t.paused.items())} if history else None,
        callbacks_worked=t.callbacks,
    )


def _worst_first(row: OperatorFigures) -> tuple[float, int, str]:
    rate = 2.0 if row.answer_rate is None else row.answer_rate  # never rung: last
    return (rate, -row.rang_out, row.operator_id)
