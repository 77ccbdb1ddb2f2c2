"""The what-if replay on hand-computed scenarios: who is answered when, and by whom."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from router.domain.calendar import Calendar
from router.domain.callback_policy import CallbackPolicy
from router.domain.journey import RoutingWorld, plan_journey
from router.domain.operators import Operator, OperatorStatus, Presence
from router.domain.queue_steps import Queue, QueueStep
from router.domain.replay.model import Arrival, Duty, OperatorModel, ReplaySettings, replay
from router.domain.replay.plan import Plan, Wait, waits_of
from router.domain.routing import CallerFacts, Condition, QueueTarget, Route, RoutesTarget

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
CFG = ReplaySettings(T0, seed=7, ring_timeout_s=20)
ANY = Wait("queue q", 0, 300, ((0.0, frozenset({"op1", "op2", "op3"})),))
PLAN = Plan((ANY,), "no_operator", True)
LONG = Plan((Wait("queue q", 0, 3600, ANY.schedule),), "no_operator", True)  # waits an hour


def op(op_id: str, **kw: object) -> OperatorModel:
    values: dict[str, object] = {"answer_s": (2.0,), "handle_s": (100.0,), **kw}
    return OperatorModel(Operator(op_id, op_id, f"PJSIP/{op_id}"), **values)  # type: ignore[arg-type]


always = Duty(lambda _op, _t: True)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_two_operators_three_callers() -> None:
    arrivals = [
        Arrival("c1", 0, PLAN),
        Arrival("c2", 1, PLAN),
        Arrival("c3", 2, PLAN, patience_s=50),
    ]
    c1, c2, c3 = replay(arrivals, [op("op1"), op("op2")], always, CFG)
    # Both idle since 0: op1 first (ties by id), op2 next; each rings 2 s, talks 100 s.
    assert (c1.operator_id, c1.answered_at, c1.ended_at) == ("op1", s(2), s(102))
    assert (c2.operator_id, c2.answered_at, c2.ended_at) == ("op2", s(3), s(103))
    # c3 waits from 2 s; nobody frees before its patience (50 s) runs out.
    assert (c3.outcome, c3.facts.abandoned, c3.ended_at) == ("abandoned", "waiting", s(52))
    assert c3.facts.waiting_at == s(2) and c3.facts.queue == "queue q"
    # One more operator on the roster: c3 is answered at once.
    *_, c3 = replay(arrivals, [op("op1"), op("op2"), op("op3")], always, CFG)
    assert (c3.outcome, c3.operator_id, c3.answered_at) == ("answered", "op3", s(4))


def test_a_reject_takes_as_long_as_it_did() -> None:
    ops = [op("op1", no_answer=1.0, unanswered_s=(1.0,)), op("op2")]
    [c1] = replay([Arrival("c1", 0, PLAN)], ops, always, CFG)
    assert (c1.operator_id, c1.answered_at) == ("op2", s(3))  # 1 s of op1, then 2 s


def test_a_ring_let_ring_out_goes_to_the_next_operator() -> None:
    ops = [op("op1", no_answer=1.0), op("op2")]
    [c1] = replay([Arrival("c1", 0, PLAN)], ops, always, CFG)
    # op1 rings 20 s for nothing, then op2 answers 2 s later.
    assert (c1.operator_id, c1.facts.first_ring_at, c1.answered_at) == ("op2", s(0), s(22))


def test_the_caller_hangs_up_while_it_rings() -> None:
    ops = [op("op1", no_answer=1.0)]
    [c1] = replay([Arrival("c1", 0, PLAN, patience_s=5)], ops, always, CFG)
    assert (c1.facts.abandoned, c1.ended_at) == ("ringing", s(5))


def test_max_wait_then_the_rules_end_and_the_roster() -> None:
    short = Plan((Wait("queue q", 0, 30, ((0.0, frozenset({"op1"})),)),), "callback", True)
    off_first_hour = Duty(lambda op_id, t: t >= 3600, (3600.0,))
    [c1, c2] = replay(
        [Arrival("c1", 0, short), Arrival("c2", 3590, short)],
        [op("op1")],
        off_first_hour,
        CFG,
    )
    assert (c1.outcome, c1.ended_at) == ("callback", s(30))  # nobody on duty: the rules' end
    assert (c2.outcome, c2.answered_at) == ("answered", s(3602))  # op1 comes at 3600 s


def test_menu_abandons_and_menus_time_are_kept() -> None:
    arrivals = [
        Arrival("m", 0, PLAN, menu_abandon_s=7),
        Arrival("k", 10, PLAN, reach_s=15, known=True, line="moscow"),
    ]
    m, k = replay(arrivals, [op("op1")], always, CFG)
    assert (m.outcome, m.facts.abandoned, m.ended_at) == ("abandoned", "menu", s(7))
    assert (k.facts.waiting_at, k.answered_at, k.known, k.line) == (s(25), s(27), True, "moscow")


def test_the_same_seed_gives_the_same_day() -> None:
    ops = [op("op1", answer_s=(1.0, 4.0, 9.0), handle_s=(60.0, 200.0), no_answer=0.3), op("op2")]
    arrivals = [Arrival(f"c{i}", 13.0 * i, PLAN, patience_s=90) for i in range(60)]
    first = replay(arrivals, ops, always, CFG)
    assert first == replay(arrivals, ops, always, CFG)
    other = replay(arrivals, ops, always, ReplaySettings(T0, seed=8))
    assert first != other
    assert {r.outcome for r in first} == {"answered", "abandoned"}


def test_waits_come_from_the_rules_walk() -> None:
    ops = tuple(Operator(i, i, f"PJSIP/{i}", skills={k: 1}) for i, k in
                (("op1", "dms"), ("op2", "oms"), ("op3", "dms")))  # fmt: skip
    queue = Queue("dms", (QueueStep(0, ("dms",), 1), QueueStep(30, (), 1)), max_wait_s=120,
                  priority=2)  # fmt: skip
    world = RoutingWorld(
        {"main": (Route("all", Condition(), QueueTarget("dms")),)},
        {}, {"dms": queue}, {"c": Calendar("c")}, ops, CallbackPolicy(),
    )  # fmt: skip
    busy = {o.id: OperatorStatus(o, Presence.ON_CALL) for o in ops}
    facts = CallerFacts(now=T0, line="main")

    plan = waits_of(plan_journey(world, facts, RoutesTarget("main"), busy))
    [wait] = plan.waits
    assert (wait.label, wait.priority, wait.max_wait_s) == ("queue dms", 2, 120.0)
    assert wait.eligible_at(0) == {"op1", "op3"} and wait.eligible_at(45) == {"op1", "op2", "op3"}
    assert wait.changes_after(0) == 30 and wait.changes_after(30) is None
    assert (plan.end, plan.task) == ("no_operator", True)
    assert math.isinf(Arrival("x", 0, plan).patience_s)


def test_roster_shifts_and_past_midnight() -> None:
    from zoneinfo import ZoneInfo

    from router.domain.replay.roster import RosterError, roster_duty, roster_from

    roster = roster_from(
        {"shifts": [
            {"operators": ["op1"], "days": ["mon"], "from": "09:00", "to": "18:00"},
            {"operators": ["op2"], "days": ["sun"], "from": "22:00", "to": "06:00"},
        ]}
    )  # fmt: skip
    msk = ZoneInfo("Europe/Moscow")
    monday9 = datetime(2026, 11, 30, 9, 0, tzinfo=msk)
    assert roster.on_duty("op1", monday9) and not roster.on_duty("op1", monday9.replace(hour=18))
    assert roster.on_duty("op2", monday9.replace(hour=5)) and not roster.on_duty("op2", monday9)
    start = monday9 - timedelta(hours=1)
    duty = roster_duty(roster, (start, start + timedelta(days=1)), msk)
    assert (duty("op1", 3599), duty("op1", 3600)) == (False, True)
    assert {3600.0, 3600.0 * 10} <= set(duty.changes)  # 09:00 and 18:00 Moscow
    try:
        roster_from({"shifts": [{"operators": ["op1"], "days": ["mon"], "from": "9", "to": "x"}]})
    except RosterError as exc:
        assert str(exc) == "shifts[0].from: a time like \"09:00\", not '9'"
    else:
        raise AssertionError("a bad time was accepted")


def test_arrivals_patience_and_operator_models() -> None:
    import random

    from router.domain.replay.inputs import arrival, duty_intervals, operator_models
    from router.domain.replay.patience import Patience
    from router.domain.reports import CallRecord, JourneyFacts, RingRecord

    gave_up = CallRecord("a", s(0), "abandoned", ended_at=s(50),
                         facts=JourneyFacts("queue q", s(10), None, False, "waiting"))  # fmt: skip
    served = CallRecord("b", s(60), "answered", answered_at=s(80), ended_at=s(200),
                        operator_id="op1", facts=JourneyFacts("queue q", s(70)))  # fmt: skip
    menu = CallRecord("c", s(90), "abandoned", ended_at=s(96),
                      facts=JourneyFacts(None, None, None, False, "menu"))  # fmt: skip
    rnd = random.Random(1)
    exponential = Patience(mean_s=100.0)  # no give-up time seen: all of it is the tail
    a = arrival(gave_up, PLAN, T0, exponential, rnd)
    assert (a.at_s, a.reach_s, a.patience_s) == (0.0, 10.0, 40.0)  # observed
    b = arrival(served, PLAN, T0, exponential, rnd)
    assert b.patience_s > 10.0 and b.reach_s == 10.0  # at least the 10 s waited, plus a draw
    assert math.isinf(arrival(served, PLAN, T0, Patience(), rnd).patience_s)  # nobody gave up
    assert arrival(menu, PLAN, T0, exponential, rnd).menu_abandon_s == 6.0
    rings = [RingRecord("b", "op1", s(70), "answered", 4000),
             RingRecord("x", "op1", s(75), "no_answer", 20000),
             RingRecord("y", "op1", s(76), "cancelled", 1000),  # left early: says nothing
             RingRecord("z", "op3", s(80), "cancelled", 9000)]  # fmt: skip
    ops = [Operator("op1", "1", "PJSIP/1"), Operator("op2", "2", "PJSIP/2", wrap_up_s=15),
           Operator("op3", "3", "PJSIP/3")]  # fmt: skip
    m1, m2, m3 = operator_models(ops, rings, [served], None, (T0, s(3600)), 5.0)
    assert (m1.answer_s, m1.no_answer, m1.handle_s, m1.wrap_up_s) == ((4.0,), 0.5, (120.0,), 5.0)
    assert (m1.unanswered_s, m1.handle_waits_s) == ((20.0,), (10.0,))  # b waited 10 s
    assert (m2.answer_s, m2.no_answer, m2.wrap_up_s) == ((4.0,), 0.0, 15)  # everyone's, own wrap
    # op3 rang 9 s, longer than anyone took to answer, and the caller gave up: not answered.
    assert (m3.no_answer, m3.unanswered_s) == (1.0, ())
    # No state history: the whole hours in which their phone rang.
    hour = [(0.0, 3600.0)]
    assert duty_intervals(None, rings, (T0, s(7200))) == {"op1": hour, "op3": hour}


def _fewest(*ids: str) -> Plan:
    wait = Wait("queue q", 0, 300, ((0.0, frozenset(ids)),), "fewest_calls")
    return Plan((wait,), "no_operator", True)


def test_fewest_calls_counts_the_replayed_calls_from_the_real_count() -> None:
    plan = _fewest("op1", "op2")
    arrivals = [Arrival(f"c{i}", 100.0 * i, plan) for i in range(4)]
    ops = [op("op1", handle_s=(10.0,)), op("op2", handle_s=(10.0,))]
    cfg = ReplaySettings(T0, seed=7, calls_today={"op1": 2})
    # op1 starts the replay with 2 calls today: op2 takes two (0, 1 < 2), then at 2 all
    # the longest idle (op1, idle since the start), then op2 again (2 < 3).
    who = [r.operator_id for r in replay(arrivals, ops, always, cfg)]
    assert who == ["op2", "op2", "op1", "op2"]
    # Counted from 0 for both, the same queue alternates (each answer counts).
    who = [r.operator_id for r in replay(arrivals, ops, always, CFG)]
    assert who == ["op1", "op2", "op1", "op2"]


def test_a_new_day_starts_the_counts_from_zero() -> None:
    plan = _fewest("op1", "op2")
    arrivals = [Arrival(f"c{i}", 100.0 * i, plan) for i in range(3)]
    ops = [op("op1", handle_s=(10.0,)), op("op2", handle_s=(10.0,))]
    yesterday = {"op2": 5}
    same_day = ReplaySettings(T0, seed=7, calls_today=yesterday)
    assert [r.operator_id for r in replay(arrivals, ops, always, same_day)] == ["op1"] * 3
    # Midnight at 150 s: both at 0 again, and op2 has been idle the longest.
    midnight = ReplaySettings(T0, seed=7, calls_today=yesterday, new_days_s=(150.0,))
    who = [r.operator_id for r in replay(arrivals, ops, always, midnight)]
    assert who == ["op1", "op1", "op2"]


def test_on_duty_as_it_happened_to_the_second() -> None:
    from router.domain.replay.inputs import duty_intervals
    from router.domain.replay.roster import duty_as_happened
    from router.domain.reports import StateSpan

    # op1 available from the start, paused 10:20-10:50 (1200-3000 s), back on and still
    # on when the history ends; op2 offline, on a call at 600 s (on duty), then offline.
    spans = [
        StateSpan("op1", "available", s(-600), s(1200)),
        StateSpan("op1", "paused", s(1200), s(3000), "lunch"),
        StateSpan("op1", "available", s(3000), s(3100)),
        StateSpan("op1", "ringing", s(3100), None),
        StateSpan("op2", "offline", s(0), s(600)),
        StateSpan("op2", "on_call", s(600), s(700)),
        StateSpan("op2", "wrap_up", s(700), s(720)),
        StateSpan("op2", "offline", s(720), None),
    ]
    intervals = duty_intervals(spans, [], (T0, s(7200)))
    assert intervals == {"op1": [(0.0, 1200.0), (3000.0, math.inf)], "op2": [(600.0, 720.0)]}
    duty = duty_as_happened(intervals)
    assert duty.changes == (0.0, 600.0, 720.0, 1200.0, 3000.0)
    assert [duty("op1", t) for t in (0, 1199, 1200, 2999, 3000, 99999)] == [
        True, True, False, False, True, True,
    ]  # fmt: skip
    assert not duty("op3", 0)
    # A caller at 10:30 waits for op1's return at 10:50, not the hour's next check.
    [c] = replay([Arrival("c", 1800, LONG)], [op("op1")], duty, CFG)
    assert (c.operator_id, c.answered_at) == ("op1", s(3002))


def test_a_roster_shift_starts_on_its_minute() -> None:
    from zoneinfo import ZoneInfo

    from router.domain.replay.roster import roster_duty, roster_from

    roster = roster_from(
        {"shifts": [{"operators": ["op1"], "days": ["tue"], "from": "09:30", "to": "10:00"}]}
    )
    msk = ZoneInfo("Europe/Moscow")
    start = datetime(2026, 12, 1, 9, 0, tzinfo=msk)  # a Tuesday
    duty = roster_duty(roster, (start, start + timedelta(hours=2)), msk)
    [c, late] = replay(
        [Arrival("c", 60, LONG), Arrival("late", 1799, LONG)], [op("op1", handle_s=(5.0,))],
        duty, ReplaySettings(start, seed=7),
    )  # fmt: skip
    at = start + timedelta(minutes=30, seconds=2)  # on at 09:30, answers in 2 s
    assert (c.operator_id, c.answered_at) == ("op1", at)
    assert late.answered_at == at + timedelta(seconds=7)  # after c's 5 s talk
