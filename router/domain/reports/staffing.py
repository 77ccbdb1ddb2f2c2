"""Staffing per hour of the week: the operators the service-level goal needs, from the
period's own arrival rate, handle time and patience (Erlang C and Erlang A), next to
the operators who were actually on duty."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from router.domain.reports.calls import CallSums, call_sums, hour_of_week, mean_us, week_order
from router.domain.reports.erlang import agents_needed, erlang_a, erlang_c
from router.domain.reports.operators import WRAP_UP, overlap_us
from router.domain.reports.records import CallRecord, StateSpan
from router.domain.reports.stats import rounded

ON_DUTY = frozenset({"available", "ringing", "on_call", "wrap_up"})


@dataclass(frozen=True, slots=True)
class StaffingRow:
    key: str  # "Mon 09": that hour of the week, local time
    hours: float  # how many such hours the period holds (a part of one: a fraction)
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


@dataclass(frozen=True, slots=True)
class StaffingSums:
    """What the staffing rows are made of (see `CallSums`): the calls summed per hour of
    the week (`calls`, `talks`, `talk_us`) and in total (also `wait_us` and who gave up),
    the period's wrap-up, and each hour of the week's time on duty (None: no state
    history), in whole microseconds. `staffing_sums` takes them from records; the
    storage's SQL takes them in the database."""

    by_hour: Mapping[str, CallSums]
    total: CallSums
    wrap_up_us: int = 0
    duty_us: Mapping[str, int] | None = None


def estimate_patience(calls: Sequence[CallRecord]) -> float | None:
    """Mean patience from the waits: time waited by everyone who waited, over the number
    who gave up (the estimator for exponential patience with the served as censored
    observations). None: nobody gave up."""
    return patience_of(call_sums(calls))


def patience_of(total: CallSums) -> float | None:
    """`estimate_patience` from the calls' sums."""
    gave_up = total.abandoned_waiting + total.abandoned_ringing
    return total.wait_us / 1e6 / gave_up if gave_up else None


def staffing(
    calls: Sequence[CallRecord],
    period: tuple[datetime, datetime],
    tz: tzinfo,
    goal: Goal = Goal(),
    spans: Sequence[StateSpan] | None = None,
    patience_s: float | None = None,
) -> list[StaffingRow]:
    """One row per hour of the week that the period holds, in week order."""
    sums = staffing_sums(calls, period, tz, spans)
    return staffing_of(sums, period, tz, goal, patience_s)


def staffing_sums(
    calls: Sequence[CallRecord],
    period: tuple[datetime, datetime],
    tz: tzinfo,
    spans: Sequence[StateSpan] | None = None,
) -> StaffingSums:
    """The sums of `staffing`'s records."""
    by_hour: dict[str, list[CallRecord]] = defaultdict(list)
    for c in calls:
        by_hour[hour_of_week(c.started_at.astimezone(tz))].append(c)
    wrap = sum(overlap_us(s, *period) for s in spans or () if s.state == WRAP_UP)
    return StaffingSums(
        by_hour={k: call_sums(v) for k, v in by_hour.items()},
        total=call_sums(calls),
        wrap_up_us=wrap,
        duty_us=None if spans is None else duty_us(spans, period, tz),
    )


def staffing_of(
    sums: StaffingSums,
    period: tuple[datetime, datetime],
    tz: tzinfo,
    goal: Goal = Goal(),
    patience_s: float | None = None,
) -> list[StaffingRow]:
    """`staffing` from its sums, wherever they were taken."""
    hours = _hours(period, tz)
    everyone = mean_us(sums.total.talk_us, sums.total.talks)
    answered = sums.total.talks
    wrap = sums.wrap_up_us / 1e6 / answered if answered else 0.0
    patience = patience_s if patience_s is not None else patience_of(sums.total)
    duty = sums.duty_us
    rows = []
    for key in sorted(hours, key=week_order):
        own = sums.by_hour.get(key, CallSums())
        talk = mean_us(own.talk_us, own.talks) or everyone
        handle = None if talk is None else talk + wrap
        rate = own.calls / hours[key] / 3600
        on_duty = None if duty is None else duty.get(key, 0) / 3.6e9
        rows.append(_row(key, hours[key], rate, handle, patience, goal, on_duty))
    return rows


def _row(
    key: str,
    hours: float,
    rate: float,
    handle: float | None,
    patience: float | None,
    goal: Goal,
    duty: float | None,
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
        hours=_count(hours),
        calls_per_hour=round(rate * 3600, 2),
        handle_s=rounded(handle),
        patience_s=rounded(patience),
        load_erlangs=round(load, 2),
        erlang_c_agents=c.agents if c else (0 if rate == 0 else None),
        erlang_c_level=rounded(c.service_level, 3) if c else None,
        erlang_a_agents=a.agents if a else (0 if rate == 0 else None),
        erlang_a_level=rounded(a.service_level, 3) if a else None,
        erlang_a_abandon=rounded(a.abandon, 3) if a else None,
        on_duty=None if duty is None else round(duty / hours, 2),
    )


def _count(hours: float) -> float:
    """Whole hours as an int (`2`, as before parts were counted), a part as a fraction."""
    held = round(hours, 4)
    return int(held) if held.is_integer() else held


def _hours(period: tuple[datetime, datetime], tz: tzinfo) -> dict[str, float]:
    """How many of each hour of the week the period holds, a part of one as that part
    (a period from 09:30 holds half of its 09 hour: counted whole, it halved that hour's
    arrival rate). In real time: the hour a clock change repeats counts twice, the one
    it skips not at all."""
    counts: dict[str, float] = defaultdict(float)
    for begin, stop, key in hour_slots(period, tz):
        counts[key] += (stop - begin) / timedelta(hours=1)
    return counts


def hour_slots(
    period: tuple[datetime, datetime], tz: tzinfo
) -> list[tuple[datetime, datetime, str]]:
    """The local hours over the period, in real time: (from, to, hour of the week), each
    clipped to the period. An hour a clock change repeats is two slots; in a zone half an
    hour off UTC the slots start at half past in UTC."""
    start, end = period
    at = start.astimezone(tz).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    slots = []
    while at < end:
        following = at + timedelta(hours=1)
        floor = following.astimezone(tz).replace(minute=0, second=0, microsecond=0)
        nxt = floor.astimezone(UTC) if floor.astimezone(UTC) > at else following
        slots.append((max(at, start), min(nxt, end), hour_of_week(at.astimezone(tz))))
        at = nxt
    return slots


def duty_us(
    spans: Sequence[StateSpan], period: tuple[datetime, datetime], tz: tzinfo
) -> dict[str, int]:
    """Time on duty per hour of the week (summed over the period's weeks), each span
    split at the local hours (`hour_slots`; the storage's SQL splits the same)."""
    slots = hour_slots(period, tz)
    starts = [a for a, _, _ in slots]
    duty: dict[str, int] = defaultdict(int)
    for s in spans:
        if s.state not in ON_DUTY:
            continue
        begin, stop = max(s.start, period[0]), min(s.end or period[1], period[1])
        index = max(0, bisect_right(starts, begin) - 1)
        while index < len(slots) and slots[index][0] < stop:
            a, b, key = slots[index]
            overlap = (min(b, stop) - max(a, begin)) // timedelta(microseconds=1)
            if overlap > 0:
                duty[key] += overlap
            index += 1
    return duty
