"""The reports' pure core at its edges: periods off the calendar, Erlang A's cost for any
patience, a period that holds part of an hour, and CSV sections with no rows."""

from __future__ import annotations

import csv
import io
import math
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.reports import CallRecord, JourneyFacts
from router.domain.reports.erlang import agents_needed, erlang_a, erlang_c
from router.domain.reports.export import to_csv
from router.domain.reports.period import PeriodError, parse_period, previous
from router.domain.reports.staffing import Goal, staffing

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "parameter"),
    [
        ("0001-01-01", None, "from"),
        (None, "9999-12-31", "to"),
        (None, "0001-01-02", "to"),  # its default start, a week before, is before year 1
        ("1969-12-31", "1970-01-02", "from"),
        ("2026-11-30", "9999-12-31T23:59+00:00", "to"),
        ("0001-01-01T00:00+05:00", "2026-11-30", "from"),  # before year 1 in UTC
        ("2026-11-30", "tomorrow", "to"),
    ],
)
def test_a_period_off_the_calendar_is_a_period_error(
    start: str | None, end: str | None, parameter: str
) -> None:
    with pytest.raises(PeriodError) as error:
        parse_period(start, end, MSK, NOW)
    assert error.value.parameter == parameter


def test_the_calendars_ends_in_any_zone() -> None:
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12", "Europe/Moscow"):
        start, end = parse_period("1970-01-01", "9998-12-31", ZoneInfo(zone), NOW)
        assert (start.year, end.year) == (1970, 9999)
        with pytest.raises(PeriodError, match="the period before"):
            previous((start, end))  # the CLI has no length cap: off the calendar
    before = previous(parse_period("1970-01-01", "1970-12-31", MSK, NOW))
    assert before[0].year == 1969  # a year's compare (the API's cap) stays in range


def test_a_compact_date_is_a_whole_day() -> None:
    assert parse_period("20261130", "20261130", MSK, NOW) == parse_period(
        "2026-11-30", "2026-11-30", MSK, NOW
    )
    start, end = parse_period("20261130", "20261130", MSK, NOW)
    assert end - start == timedelta(days=1)


def _uniformized(agents: int, lam: float, mu: float, theta: float, t: float) -> float:
    """Erlang A's service level the long way (the module's former method): the answered-
    within-t chance of each queue state by uniformization, weighted by the stationary
    distribution (summed until its terms vanish)."""
    weights, k = [1.0], 0
    while k <= agents or weights[-1] > 1e-13 * max(weights):
        k += 1
        death = k * mu if k <= agents else agents * mu + (k - agents) * theta
        weights.append(weights[-1] * lam / death)
    total = sum(weights)
    probs = [w / total for w in weights]
    states = len(probs) - agents
    advance = [agents * mu + i * theta for i in range(states)]
    rate = max(advance) + theta
    u, within = [0.0] * states, [0.0] * states
    steps = rate * t
    for n in range(1, math.ceil(steps + 12 * math.sqrt(steps) + 30) + 1):
        u = [a / rate * (u[j - 1] if j else 1.0) + (1 - (a + theta) / rate) * u[j]
             for j, a in enumerate(advance)]  # fmt: skip
        weight = math.exp(n * math.log(steps) - steps - math.lgamma(n + 1))
        within = [w + weight * x for w, x in zip(within, u, strict=True)]
    return sum(probs[:agents]) + sum(p * w for p, w in zip(probs[agents:], within, strict=True))


@settings(max_examples=25, deadline=None)
@given(
    agents=st.integers(1, 12),
    calls_per_hour=st.floats(5, 200),
    aht=st.floats(60, 400),
    patience=st.floats(10, 600),
    target=st.sampled_from([5.0, 20.0, 60.0]),
)
def test_the_closed_form_equals_the_long_way(
    agents: int, calls_per_hour: float, aht: float, patience: float, target: float
) -> None:
    lam = calls_per_hour / 3600
    got = erlang_a(agents, lam, aht, patience, target).service_level
    assert got == pytest.approx(_uniformized(agents, lam, 1 / aht, 1 / patience, target), abs=1e-9)


@pytest.mark.parametrize(
    ("calls_per_hour", "patience"),
    [(360, 1e-5), (360, 1e-300), (360, 86400), (360, 1e12), (10_000, 86400), (10, 1e15)],
)
def test_no_patience_costs_more_than_a_fraction_of_a_second(
    calls_per_hour: float, patience: float
) -> None:
    """Patience 1e-5 s took 4.8 s a call, a large measured one 10.8 s a row."""
    rate, handle = calls_per_hour / 3600, 180.0
    load = rate * handle
    started = time.process_time()
    c = agents_needed(0.8, lambda n: erlang_c(n, load, handle, 20), math.floor(load))
    a = agents_needed(
        0.8, lambda n: erlang_a(n, rate, handle, patience, 20), 1, c.agents if c else None
    )
    assert time.process_time() - started < 0.5
    assert a is not None and 0 <= a.service_level <= 1 + 1e-9 and 0 <= a.abandon <= 1
    if c is not None:
        assert a.agents <= c.agents


def test_an_overloaded_queue_of_endless_patience_is_its_fluid_limit() -> None:
    # 1 operator, 3 calls a second of 180 s: all but 1/540 of the callers give up.
    a = erlang_a(1, 3.0, 180, 1e12, 20)
    assert (a.service_level, a.wait_probability) == (0.0, 1.0)
    assert a.abandon == pytest.approx(1 - 1 / 540)


def _answered(start: datetime) -> CallRecord:
    waiting = start + timedelta(seconds=5)
    answered = waiting + timedelta(seconds=10)
    return CallRecord(
        "x", start, "answered", answered_at=answered, ended_at=answered + timedelta(minutes=3),
        facts=JourneyFacts("queue q", waiting),
    )  # fmt: skip


def test_a_part_of_an_hour_counts_as_that_part() -> None:
    # 09:30-11:00 Moscow: 15 calls in the half hour from 09:30 (30 an hour), 30 from 10:00.
    first = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
    calls = [_answered(first + timedelta(minutes=2 * i)) for i in range(15)]
    calls += [_answered(first + timedelta(minutes=30 + 2 * i)) for i in range(30)]
    rows = {r.key: r for r in staffing(calls, (first, first + timedelta(minutes=90)), MSK, Goal())}
    assert (rows["Mon 09"].hours, rows["Mon 09"].calls_per_hour) == (0.5, 30.0)
    assert (rows["Mon 10"].hours, rows["Mon 10"].calls_per_hour) == (1, 30.0)
    assert rows["Mon 09"].erlang_c_agents == rows["Mon 10"].erlang_c_agents


@pytest.mark.parametrize(
    ("section", "first"),
    [("operators", "operator_id"), ("staffing", "key"), ("compare", "figure")],
)
def test_a_csv_with_no_rows_keeps_its_header(section: str, first: str) -> None:
    text = to_csv([], section)
    assert text.count("\n") == 1
    header = next(csv.reader(io.StringIO(text)))
    assert header[0] == first
    assert to_csv([{"a": 1}], section) == "a\n1\n"  # rows name their own columns
