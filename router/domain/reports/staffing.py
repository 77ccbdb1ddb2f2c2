"""Staffing per hour of the week: the operators the service-level goal needs, from the
period's own arrival rate, handle time and patience (Erlang C and Erlang A), next to
the operators who were actually on duty."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from router.domain.reports.calls import hour_of_week, wait_s, week_order
from router.domain.reports.erlang import agents_needed, erlang_a, erlang_c
from router.domain.reports.operators import overlap_s
from router.domain.reports.records import CallRecord, StateSpan
from router.domain.reports.stats import mean, rounded

ON_DUTY = frozenset({"available", "ringing", "on_call", "wrap_up"})


@dataclass(frozen=True, slots=True)
class StaffingRow:
    key: str  # "Mon 09": that hour of the week, local time
    hours: int  # how many such hours the period holds
    calls_per_hour: float
    handle_s: float | None  # talk + wrap-up per answered call
    patience_s: float | None  # None: nobody gave up, so Erlang A is Erlang C
    load_erlangs: float
    erlang_c_agents: int | None
    erlang_c_level: float | None
    erlang_a_agents: int | None
    erlang_a_level: float | None
    erlang_a_abandon: float | None
    on_duty: float | None  # operators on duty on average (None: no state history)


@dataclass(frozen=True, slots=True)
class Goal:
    target_s: float = 20.0
    level: float = 0.8  # the share to answer within `target_s`


def estimate_patience(calls: Sequence[CallRecord]) -> float | None:
    """Mean patience from the waits: time waited by everyone who waited, over the number
    who gave up (the estimator for exponential patience with the served as censored
    observations). None: nobody gave up."""
    waited, gave_up = 0.0, 0
    for c in calls:
        waited += wait_s(c) or 0.0
        gave_up += c.facts.abandoned in ("waiting", "ringing")
    return waited / gave_up if gave_up else None


def staffing(
    calls: Sequence[CallRecord],
    period: tuple[datetime, datetime],
    tz: tzinfo,
    goal: Goal = Goal(),
    spans: Sequence[StateSpan] | None = None,
    patience_s: float | None = None,
) -> list[StaffingRow]:
    """One row per hour of the week that the period holds, in week order."""
    hours = _hours(period, tz)
    by_hour: dict[str, list[CallRecord]] = defaultdict(list)
    for c in calls:
        by_hour[hour_of_week(c.started_at.astimezone(tz))].append(c)
    talks = [_talk(c) for c in calls if c.answered_at and c.ended_at]
    wrap = _wrap_up_per_call(spans, period, len(talks))
    patience = patience_s if patience_s is not None else estimate_patience(calls)
    duty = _on_duty(spans, period, tz) if spans is not None else None
    rows = []
    for key in sorted(hours, key=week_order):
        own = [_talk(c) for c in by_hour[key] if c.answered_at and c.ended_at]
        talk = mean(own) or mean(talks)
        handle = None if talk is None else talk + wrap
        rate = len(by_hour[key]) / hours[key] / 3600
        rows.append(_row(key, hours[key], rate, handle, patience, goal, duty))
    return rows


def _row(
    key: str,
    hours: int,
    rate: float,
    handle: float | None,
    patience: float | None,
    goal: Goal,
    duty: dict[str, float] | None,
) -> StaffingRow:
    load = rate * handle if handle else 0.0
    c = a = None
    if handle and rate > 0:
        start = math.floor(load)
        c = agents_needed(goal.level, lambda n: erlang_c(n, load, handle, goal.target_s), start)
        if patience:
            # Callers who give up take no operator: never more than Erlang C's number.
            upper = c.agents if c else None
            a = agents_needed(
                goal.level, lambda n: erlang_a(n, rate, handle, patience, goal.target_s), 1, upper
            )
        else:
            a = c
    return StaffingRow(
        key=key,
        hours=hours,
        calls_per_hour=round(rate * 3600, 2),
        handle_s=rounded(handle),
        patience_s=rounded(patience),
        load_erlangs=round(load, 2),
        erlang_c_agents=c.agents if c else (0 if rate == 0 else None),
        erlang_c_level=rounded(c.service_level, 3) if c else None,
        erlang_a_agents=a.agents if a else (0 if rate == 0 else None),
        erlang_a_level=rounded(a.service_level, 3) if a else None,
        erlang_a_abandon=rounded(a.abandon, 3) if a else None,
        on_duty=None if duty is None else round(duty.get(key, 0.0) / hours, 2),
    )


def _talk(c: CallRecord) -> float:
    assert c.answered_at is not None and c.ended_at is not None
    return (c.ended_at - c.answered_at).total_seconds()


def _hours(period: tuple[datetime, datetime], tz: tzinfo) -> dict[str, int]:
    """How many of each hour of the week the period holds. Stepped in real time: the hour
    a clock change repeats counts twice, the one it skips not at all."""
    counts: dict[str, int] = defaultdict(int)
    first = period[0].astimezone(tz).replace(minute=0, second=0, microsecond=0)
    at, stop = first.timestamp(), period[1].timestamp()
    while at < stop:
        counts[hour_of_week(datetime.fromtimestamp(at, tz))] += 1
        at += 3600
    return counts


def _wrap_up_per_call(
    spans: Sequence[StateSpan] | None, period: tuple[datetime, datetime], answered: int
) -> float:
    if not spans or not answered:
        return 0.0
    total = sum(overlap_s(s, *period) for s in spans if s.state == "wrap_up")
    return total / answered


def _on_duty(
    spans: Sequence[StateSpan], period: tuple[datetime, datetime], tz: tzinfo
) -> dict[str, float]:
    """Operator-hours on duty per hour of the week (summed over the period's weeks)."""
    duty: dict[str, float] = defaultdict(float)
    for s in spans:
        if s.state not in ON_DUTY:
            continue
        start = max(s.start, period[0]).astimezone(UTC)
        end = min(s.end or period[1], period[1]).astimezone(UTC)
        at = start
        while at < end:
            # In UTC: datetimes of one zone subtract as wall clocks, which a clock change
            # makes wrong (02:00 CEST to 02:00 CET would be no time at all).
            stop = min(end, datetime.fromtimestamp((at.timestamp() // 3600 + 1) * 3600, UTC))
            duty[hour_of_week(at.astimezone(tz))] += (stop - at).total_seconds() / 3600
            at = stop
    return duty
