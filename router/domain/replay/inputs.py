"""The replay's inputs from a period's report rows: arrivals with their patience, the
operators' answer delays, ring-out shares and handle times, and who was on duty."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta, tzinfo

from router.domain.operators import Operator
from router.domain.replay.model import Arrival, OperatorModel
from router.domain.replay.patience import Patience, estimate
from router.domain.replay.plan import Plan
from router.domain.reports.operators import overlap_s
from router.domain.reports.records import CallRecord, RingRecord, StateSpan
from router.domain.reports.staffing import ON_DUTY
from router.domain.reports.stats import percentile

HOUR_S = 3600.0


def arrival(
    call: CallRecord, plan: Plan, start: datetime, patience: Patience, rnd: random.Random
) -> Arrival:
    """A recorded call as an arrival. Patience: observed for a caller who gave up while
    waiting or ringing; for the others only a lower bound is known (they waited that long
    and were answered), so it is drawn from the period's estimate above that bound
    (`Patience.beyond`), unbounded when nobody gave up in the period."""
    f = call.facts
    at_s = (call.started_at - start).total_seconds()
    end = call.ended_at or call.answered_at
    if f.abandoned == "menu" and end is not None:
        return Arrival(call.id, at_s, plan, menu_abandon_s=_secs(call.started_at, end),
                       known=call.known, line=call.line)  # fmt: skip
    reach = _secs(call.started_at, f.waiting_at) if f.waiting_at else 0.0
    patience_s = math.inf
    if f.waiting_at is not None:
        waited = _secs(f.waiting_at, call.answered_at or end or f.waiting_at)
        if f.abandoned in ("waiting", "ringing"):
            patience_s = waited
        else:
            patience_s = patience.beyond(waited, rnd)
    return Arrival(call.id, at_s, plan, reach, patience_s, None, None, call.known, call.line)


def patience_of(calls: Iterable[CallRecord]) -> Patience:
    """The period's patience: each caller who waited, and whether they gave up then."""
    return estimate(
        (_secs(f.waiting_at, c.answered_at or c.ended_at or f.waiting_at),
         f.abandoned in ("waiting", "ringing"))
        for c in calls
        if (f := c.facts).waiting_at is not None and c.outcome is not None
    )  # fmt: skip


def operator_models(
    operators: Sequence[Operator],
    rings: Iterable[RingRecord],
    calls: Iterable[CallRecord],
    spans: Sequence[StateSpan] | None,
    period: tuple[datetime, datetime],
    default_wrap_up_s: float,
) -> list[OperatorModel]:
    """Each operator as the period saw them; one never rung gets everyone's figures."""
    answer: dict[str, list[float]] = defaultdict(list)
    unanswered: dict[str, list[float]] = defaultdict(list)
    left: dict[str, list[float]] = defaultdict(list)  # rings the caller hung up on
    for r in rings:
        seconds = (r.duration_ms or 0) / 1000
        if r.result == "answered":
            answer[r.operator_id].append(seconds)
        elif r.result == "cancelled":
            left[r.operator_id].append(seconds)
        else:
            unanswered[r.operator_id].append(seconds)
    talks: dict[str, list[tuple[float, float]]] = defaultdict(list)  # (waited, talked)
    for c in calls:
        if c.operator_id and c.answered_at and c.ended_at:
            waited = _secs(c.facts.waiting_at or c.answered_at, c.answered_at)
            talks[c.operator_id].append((waited, _secs(c.answered_at, c.ended_at)))
    wraps: dict[str, float] = defaultdict(float)
    for s in spans or ():
        if s.state == "wrap_up":
            wraps[s.operator_id] += overlap_s(s, *period)
    all_answer = tuple(x for v in answer.values() for x in v) or (3.0,)
    all_talk = tuple(t for v in talks.values() for _, t in v) or (180.0,)
    # A ring the caller hung up on says only that it was not answered that soon. One that
    # rang longer than nearly every answer (everyone's p90) counts as not answered: an
    # operator who never picks up, whose callers always give up first, is not perfect.
    slow = percentile(all_answer, 90) or 0.0
    models = []
    for op in operators:
        gave_up = left.get(op.id, [])
        missed = len(unanswered.get(op.id, ())) + sum(1 for x in gave_up if x > slow)
        tries = len(answer.get(op.id, ())) + missed
        own = sorted(talks.get(op.id, ()))
        done = len(own)
        wrap = wraps[op.id] / done if spans is not None and done else None
        models.append(
            OperatorModel(
                op,
                answer_s=tuple(answer.get(op.id, ())) or all_answer,
                no_answer=missed / tries if tries else 0.0,
                unanswered_s=tuple(unanswered.get(op.id, ())),
                handle_s=tuple(t for _, t in own) or all_talk,
                wrap_up_s=wrap if wrap is not None else (op.wrap_up_s or default_wrap_up_s),
                handle_waits_s=tuple(w for w, _ in own),
            )
        )
    return models


def duty_intervals(
    spans: Sequence[StateSpan] | None,
    rings: Iterable[RingRecord],
    period: tuple[datetime, datetime],
) -> dict[str, list[tuple[float, float]]]:
    """Each operator's time on duty as it happened, as (from, to) seconds after the
    period's start, merged and ascending: from the state history (available, ringing, on
    a call or wrapping up; a pause or offline is off duty, to the second), or, without
    one, the whole hours in which their phone was rung. A state still held when the
    history read ends lasts on (`to` infinite): the calls that run past the period's end
    are served by who was there."""
    base = period[0].timestamp()
    raw: dict[str, list[tuple[float, float]]] = defaultdict(list)
    if spans is None:
        for r in rings:
            hour = (r.started_at.timestamp() - base) // HOUR_S
            raw[r.operator_id].append((hour * HOUR_S, (hour + 1) * HOUR_S))
    else:
        for sp in spans:
            if sp.state in ON_DUTY:
                stop = sp.end.timestamp() - base if sp.end else math.inf
                raw[sp.operator_id].append((max(0.0, sp.start.timestamp() - base), stop))
    return {op_id: _merged(spans_of) for op_id, spans_of in raw.items()}


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def midnights_s(
    period: tuple[datetime, datetime], tz: tzinfo, after_end_s: float
) -> tuple[float, ...]:
    """The local midnights after the period's start, in seconds from it, up to
    `after_end_s` past its end: when the operators' calls today start from 0."""
    start, end = period
    day = start.astimezone(tz).date() + timedelta(days=1)
    stop = end.timestamp() + after_end_s
    out = []
    while (at := datetime.combine(day, time(), tz).timestamp()) <= stop:
        out.append(at - start.timestamp())
        day += timedelta(days=1)
    return tuple(out)


def day_start(at: datetime, tz: tzinfo) -> datetime:
    """Local midnight of the day `at` is in."""
    return datetime.combine(at.astimezone(tz).date(), time(), tz)


def _secs(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds())
