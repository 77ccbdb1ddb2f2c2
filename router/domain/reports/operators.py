"""Operator figures: who was rung, who answered, who let it ring out — the operator
who does not pick up comes first."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from router.domain.reports.calls import mean_us, us_between
from router.domain.reports.records import CallRecord, RingRecord, StateSpan, TaskRecord
from router.domain.reports.stats import percentile, rounded, share

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
class OperatorSums:
    """What an operator's row is made of (see `CallSums`): ring results counted, times in
    whole milliseconds (rings) and microseconds (talk, states), the median answer time;
    then what the tasks and state spans add."""

    results: Counter[str | None] = field(default_factory=Counter)
    answers: int = 0  # answered rings with a duration
    answer_ms: int = 0
    answer_p50_s: float | None = None
    talks: int = 0
    talk_us: int = 0
    wrap_up_us: int = 0
    paused_us: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    callbacks: int = 0


# (operator, state, pause reason) -> whole microseconds in it within the period
StateSums = Mapping[tuple[str, str, str | None], int]


def operator_sums(
    rings: Iterable[RingRecord], calls: Iterable[CallRecord]
) -> dict[str, OperatorSums]:
    """Rings and talk per operator from records (the storage's SQL takes the same)."""
    tally: dict[str, OperatorSums] = defaultdict(OperatorSums)
    answer_s: dict[str, list[float]] = defaultdict(list)
    for r in rings:
        t = tally[r.operator_id]
        t.results[r.result] += 1
        if r.result == "answered" and r.duration_ms is not None:
            t.answers += 1
            t.answer_ms += r.duration_ms
            answer_s[r.operator_id].append(r.duration_ms / 1000)
    for op, values in answer_s.items():
        tally[op].answer_p50_s = percentile(values, 50)
    for c in calls:
        talk = us_between(c.answered_at, c.ended_at)
        if c.operator_id and talk is not None:
            tally[c.operator_id].talks += 1
            tally[c.operator_id].talk_us += talk
    return tally


def operators_report(
    rings: Iterable[RingRecord],
    calls: Iterable[CallRecord],
    tasks: Iterable[TaskRecord],
    period: tuple[datetime, datetime],
    spans: Sequence[StateSpan] | None = None,
    now: datetime | None = None,
) -> list[OperatorFigures]:
    """One row per operator seen in the period; the lowest answer rate first (then the
    most rings let ring out). `spans`: their state history (None: not recorded, so wrap-up
    and pause time are None rather than a misleading 0), clipped to `period` up to `now`
    (`so_far`). A pause asked for during a call counts from when it took effect, after
    the call."""
    states = None if spans is None else state_sums(spans, so_far(period, now))
    worked = callbacks_worked(tasks, period)
    return operators_of(operator_sums(rings, calls), worked, states)


def callbacks_worked(
    tasks: Iterable[TaskRecord], period: tuple[datetime, datetime]
) -> Counter[str]:
    """Tasks closed in the period per operator who worked them, by the work's time: a
    miss at 20:00 called back at 09:05 the next day counts on the next day (`tasks` must
    hold those closed in the period, whenever missed; the storage's SQL counts the same)."""
    start, end = period
    return Counter(
        t.worked_by for t in tasks if t.worked_by and t.closed_at and start <= t.closed_at < end
    )


def so_far(period: tuple[datetime, datetime], now: datetime | None) -> tuple[datetime, datetime]:
    """The part of `period` up to `now` (None: all of it), for the time in each state: a
    state still held runs to now, not into the future (today's report at 09:30 counted a
    pause still on until midnight, 14 h of it). The storage's SQL is given the same."""
    start, end = period
    return period if now is None else (start, max(start, min(end, now)))


def state_sums(spans: Iterable[StateSpan], period: tuple[datetime, datetime]) -> StateSums:
    """Time per operator, state and reason, each span clipped to the period (a span still
    open runs to the period's end: give a period not over as `so_far`); every span's key
    is there, if only with 0. The storage's SQL sums the same (`LEAD(at)` per operator)."""
    out: dict[tuple[str, str, str | None], int] = defaultdict(int)
    for s in spans:
        out[(s.operator_id, s.state, s.reason)] += overlap_us(s, *period)
    return out


def operators_of(
    sums: dict[str, OperatorSums],
    callbacks: Mapping[str, int],
    states: StateSums | None = None,
) -> list[OperatorFigures]:
    """`operators_report` from the rings' and talks' sums, the callbacks worked and the
    time in each state, wherever they were taken (None: no state history)."""
    tally: dict[str, OperatorSums] = defaultdict(OperatorSums, sums)
    for op, n in callbacks.items():
        tally[op].callbacks += n
    for (op, state, reason), us in (states or {}).items():
        if state == WRAP_UP:
            tally[op].wrap_up_us += us
        elif state == PAUSED and us > 0:
            tally[op].paused_us[reason or NO_REASON] += us
    rows = [_figures(op, t, states is not None) for op, t in tally.items()]
    return sorted(rows, key=_worst_first)


def overlap_s(span: StateSpan, start: datetime, end: datetime) -> float:
    return overlap_us(span, start, end) / 1e6


def overlap_us(span: StateSpan, start: datetime, end: datetime) -> int:
    """Whole microseconds of `span` within `[start, end)` (still open: to `end`)."""
    stop = min(span.end or end, end)
    return max(0, (stop - max(span.start, start)) // _MICROSECOND)


_MICROSECOND = timedelta(microseconds=1)


def _figures(op: str, t: OperatorSums, history: bool) -> OperatorFigures:
    count = t.results.__getitem__
    rings = sum(t.results.values())
    left = count("cancelled")
    answered = count("answered")
    return OperatorFigures(
        operator_id=op,
        rings=rings,
        answered=answered,
        rang_out=count("no_answer"),
        rejected=count("busy"),
        unavailable=count("unavailable") + count("failed"),
        caller_left=left,
        answer_rate=rounded(share(answered, rings - left), 4),
        answer_p50_s=rounded(t.answer_p50_s),
        answer_avg_s=rounded(t.answer_ms / t.answers / 1000 if t.answers else None),
        talk_avg_s=rounded(mean_us(t.talk_us, t.talks)),
        talk_total_s=round(t.talk_us / 1e6, 1),
        wrap_up_s=round(t.wrap_up_us / 1e6, 1) if history else None,
        paused_s={k: round(v / 1e6, 1) for k, v in sorted(t.paused_us.items())}
        if history
        else None,
        callbacks_worked=t.callbacks,
    )


def _worst_first(row: OperatorFigures) -> tuple[float, int, str]:
    rate = 2.0 if row.answer_rate is None else row.answer_rate  # never rung: last
    return (rate, -row.rang_out, row.operator_id)
