"""Erlang C / Erlang A against hand-computed values, and staffing per hour of the week."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.reports import CallRecord, JourneyFacts, StateSpan
from router.domain.reports.erlang import Service, agents_needed, erlang_a, erlang_b, erlang_c
from router.domain.reports.staffing import Goal, estimate_patience, staffing

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def test_erlang_b_and_c_by_hand() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)  # (1/2) / (1 + 1 + 1/2)
    # 3 operators, 2 erlangs: P(wait) = 4/9; the wait beyond 0 has rate (3 - 2) / AHT.
    c = erlang_c(3, 2.0, aht_s=180, target_s=20)
    assert c.wait_probability == pytest.approx(4 / 9)
    assert c.service_level == pytest.approx(1 - 4 / 9 * math.exp(-20 / 180))
    assert erlang_c(2, 2.0, 180, 20).service_level == 0.0  # no more operators than load


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    c = erlang_c(12, 10.0, 180, 20)
    a = erlang_a(12, 10 / 180, 180, patience_s=1e7, target_s=20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.wait_probability == pytest.approx(c.wait_probability, abs=1e-4)
    assert a.abandon < 1e-4


def test_erlang_a_in_the_long_run_everyone_is_answered_or_gone() -> None:
    a = erlang_a(5, 6 / 180, 180, patience_s=60, target_s=3600)
    assert a.service_level + a.abandon == pytest.approx(1.0, abs=1e-6)
    # Overloaded (6 erlangs on 5): Erlang C has no steady state, Erlang A sheds the excess.
    assert 0.0 < a.abandon < 1.0


def test_erlang_a_one_operator_by_hand() -> None:
    # M/M/1+M, λ = μ = θ = 1/60: π_k ∝ 1, 1, 1/2, 1/6, … = 1/k! -> π_k = e^-1/k!.
    # Gone: Σ π_k (k-1) θ / λ over k ≥ 2 = E[k] - 1 + π_0 = 1 - 1 + e^-1.
    a = erlang_a(1, 1 / 60, 60, patience_s=60, target_s=0)
    assert a.abandon == pytest.approx(math.exp(-1))
    assert a.wait_probability == pytest.approx(1 - math.exp(-1))
    assert a.service_level == pytest.approx(math.exp(-1))  # t = 0: only the free operator


@settings(max_examples=40, deadline=None)
@given(
    agents=st.integers(1, 30),
    calls_per_hour=st.floats(1, 600),
    patience=st.floats(10, 600),
)
def test_one_more_operator_never_makes_it_worse(
    agents: int, calls_per_hour: float, patience: float
) -> None:
    rate = calls_per_hour / 3600
    fewer = erlang_a(agents, rate, 180, patience, 20)
    more = erlang_a(agents + 1, rate, 180, patience, 20)
    assert more.service_level >= fewer.service_level - 1e-9
    assert more.abandon <= fewer.abandon + 1e-9
    assert 0 <= fewer.service_level <= 1 + 1e-9


def test_agents_needed_is_the_fewest() -> None:
    found = agents_needed(0.8, lambda n: erlang_c(n, 10.0, 180, 20), 10)
    assert found is not None
    assert found.service_level >= 0.8
    assert erlang_c(found.agents - 1, 10.0, 180, 20).service_level < 0.8


MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow


def _call(start: datetime, waited: float, talk: float | None) -> CallRecord:
    waiting = start + timedelta(seconds=5)
    if talk is None:  # gave up after `waited`
        end = waiting + timedelta(seconds=waited)
        facts = JourneyFacts("queue q", waiting, None, False, "waiting")
        return CallRecord("x", start, "abandoned", ended_at=end, facts=facts)
    answered = waiting + timedelta(seconds=waited)
    return CallRecord(
        "x", start, "answered", answered_at=answered,
        ended_at=answered + timedelta(seconds=talk), facts=JourneyFacts("queue q", waiting),
    )  # fmt: skip


def test_staffing_per_hour_of_the_week() -> None:
    # Two Mondays 09:00-10:00: 30 calls each, 3 min talk, 20 s waits; 6 gave up after 60 s.
    calls = []
    for week in (0, 7):
        for i in range(30):
            start = MONDAY + timedelta(days=week, minutes=2 * i)
            calls.append(_call(start, 60, None) if i % 10 == 0 else _call(start, 20, 180))
    period = (MONDAY - timedelta(hours=9), MONDAY + timedelta(days=14) - timedelta(hours=9))
    # Patience: 54 × 20 s + 6 × 60 s waited, 6 gave up -> 240 s.
    assert estimate_patience(calls) == pytest.approx(240.0)
    rows = {r.key: r for r in staffing(calls, period, MSK, Goal(20, 0.8))}
    assert len(rows) == 168 and all(r.hours == 2 for r in rows.values())
    mon9 = rows["Mon 09"]
    assert (mon9.calls_per_hour, mon9.handle_s, mon9.load_erlangs) == (30.0, 180.0, 1.5)
    # By hand, Erlang C with 1.5 erlangs: 3 operators answer 79.96 % within 20 s
    # (C = 0.2368, 1 - C·e^(-1.5·20/180)), 4 answer 94.4 %: 4 are needed.
    assert (mon9.erlang_c_agents, mon9.erlang_c_level) == (4, 0.944)
    assert erlang_c(3, 1.5, 180, 20).service_level == pytest.approx(0.7996, abs=1e-4)
    assert mon9.erlang_a_agents is not None and mon9.erlang_c_agents is not None
    assert mon9.erlang_a_agents <= mon9.erlang_c_agents
    assert mon9.on_duty is None  # no state history
    quiet = rows["Tue 03"]
    assert (quiet.calls_per_hour, quiet.erlang_c_agents, quiet.erlang_a_agents) == (0, 0, 0)


def test_on_duty_and_the_hours_a_clock_change_repeats() -> None:
    # Berlin, Sunday 25 Oct 2026: 02:00-03:00 happens twice; a week holds 169 hours.
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # Sunday 00:00 CEST
    period = (start, start + timedelta(hours=25))  # to Monday 00:00 CET
    op_on = StateSpan("op1", "available", start, start + timedelta(hours=3, minutes=30))
    paused = StateSpan("op2", "paused", start, None, "lunch")
    rows = {r.key: r for r in staffing([], period, BERLIN, spans=[op_on, paused])}
    assert rows["Sun 02"].hours == 2 and rows["Sun 01"].hours == 1 and len(rows) == 24
    # op1 on duty 00:00 → 02:30 CET: 3.5 real hours, two of them in "Sun 02".
    assert (rows["Sun 00"].on_duty, rows["Sun 01"].on_duty) == (1.0, 1.0)
    assert rows["Sun 02"].on_duty == pytest.approx(0.75)  # 1.5 h over two Sun 02 hours
    assert rows["Sun 03"].on_duty == 0.0


@pytest.mark.parametrize("patience", [30.0, 120.0, 600.0])
def test_bisection_finds_what_counting_up_finds(patience: float) -> None:
    rate = 300 / 3600

    def level(n: int) -> Service:
        return erlang_a(n, rate, 200, patience, 20)

    counted = agents_needed(0.8, level, 1)
    upper = agents_needed(0.8, lambda n: erlang_c(n, rate * 200, 200, 20), 16)
    assert counted is not None and upper is not None
    assert agents_needed(0.8, level, 1, upper.agents) == counted
