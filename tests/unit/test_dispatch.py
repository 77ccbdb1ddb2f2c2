"""One scheduling pass: who gets which free operator (domain/dispatch.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.dispatch import WaitingCall, aged_priority, assign, serving_order
from router.domain.operators import Operator, OperatorStatus, Presence


def status(
    op_id: str, presence: Presence = Presence.AVAILABLE, idle: float = 0.0
) -> OperatorStatus:
    return OperatorStatus(Operator(op_id, op_id, f"PJSIP/{op_id}"), presence, idle_since=idle)


def waiting(
    call_id: str,
    eligible: set[str],
    since: float = 0.0,
    priority: int = 0,
    assigned: str | None = None,
) -> WaitingCall:
    return WaitingCall(call_id, priority, since, frozenset(eligible), assigned)


def test_earlier_caller_of_another_queue_goes_first() -> None:
    # op1 can serve both queues; the caller who has waited longer gets them.
    calls = [waiting("late", {"op1"}, since=50.0), waiting("early", {"op1", "op2"}, since=10.0)]
    assert assign(calls, [status("op1")], now=60.0) == [("early", "op1")]


def test_priority_beats_arrival_but_ageing_prevents_starvation() -> None:
    # Each point of priority is worth ageing_s seconds of waiting: a VIP who arrived less
    # than 2 minutes after an ordinary caller goes first, one who arrived later does not.
    vip_soon = [waiting("old-low", {"op1"}, since=0.0), waiting("new-high", {"op1"}, 95.0, 2)]
    assert assign(vip_soon, [status("op1")], now=200.0, ageing_s=60.0) == [("new-high", "op1")]
    vip_late = [waiting("old-low", {"op1"}, since=0.0), waiting("new-high", {"op1"}, 150.0, 2)]
    assert assign(vip_late, [status("op1")], now=200.0, ageing_s=60.0) == [("old-low", "op1")]


def test_assigned_operator_preferred_then_longest_idle() -> None:
    ops = [status("op1", idle=5.0), status("op2", idle=1.0), status("op3", idle=9.0)]
    assert assign([waiting("c", {"op1", "op2", "op3"}, assigned="op3")], ops, 10.0) == [
        ("c", "op3")
    ]
    assert assign([waiting("c", {"op1", "op2", "op3"})], ops, 10.0) == [("c", "op2")]


def test_only_available_operators_are_given_out() -> None:
    ops = [
        status("op1", Presence.PAUSED),
        status("op2", Presence.ON_CALL),
        status("op3", Presence.WRAP_UP),
    ]
    assert assign([waiting("c", {"op1", "op2", "op3"})], ops, 0.0) == []


def test_serving_order_is_aged_priority_then_arrival_then_id() -> None:
    calls = [waiting("b", set(), 5.0), waiting("a", set(), 5.0), waiting("v", set(), 9.0, 5)]
    assert [c.id for c in serving_order(calls, now=10.0)] == ["v", "a", "b"]
    assert aged_priority(waiting("x", set(), 0.0, 1), now=120.0, ageing_s=60.0) == 3.0


OPS = [f"op{i}" for i in range(6)]
presences = st.sampled_from(list(Presence))


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[WaitingCall], list[OperatorStatus], float]:
    ops = [status(o, draw(presences), draw(st.floats(0, 100))) for o in OPS]
    n = draw(st.integers(0, 8))
    calls = [
        waiting(
            f"c{i}",
            set(draw(st.lists(st.sampled_from(OPS), max_size=6))),
            draw(st.floats(0, 100)),
            draw(st.integers(0, 3)),
            draw(st.none() | st.sampled_from(OPS)),
        )
        for i in range(n)
    ]
    return calls, ops, draw(st.floats(100, 1000))


@settings(max_examples=300)
@given(scenario())
def test_invariants_of_one_pass(
    case: tuple[list[WaitingCall], list[OperatorStatus], float],
) -> None:
    calls, ops, now = case
    pairs = assign(calls, ops, now)
    by_id = {c.id: c for c in calls}
    presence = {s.id: s.presence for s in ops}
    given_ops = [op for _, op in pairs]
    given_calls = [c for c, _ in pairs]
    # An operator is never offered two calls at once; a call never rings two phones.
    assert len(given_ops) == len(set(given_ops))
    assert len(given_calls) == len(set(given_calls))
    for call_id, op in pairs:
        assert op in by_id[call_id].eligible
        assert presence[op] is Presence.AVAILABLE
    # Within one pass nobody is left waiting while an eligible operator stays free.
    free_after = {o for o, p in presence.items() if p is Presence.AVAILABLE} - set(given_ops)
    for call in calls:
        if call.id not in given_calls:
            assert not (call.eligible & free_after)
    # Whoever is served comes before anyone who could have taken the same operator.
    order = [c.id for c in serving_order(calls, now)]
    for call_id, op in pairs:
        for other in calls:
            if other.id not in given_calls and op in other.eligible:
                assert order.index(call_id) < order.index(other.id)


def test_queue_strategies_fewest_calls_and_best_skill() -> None:
    busy = status("op1", idle=1.0)
    busy.calls_today = 9
    fresh = status("op2", idle=5.0)
    expert = OperatorStatus(
        Operator("op3", "op3", "PJSIP/op3", skills={"dms": 5}), Presence.AVAILABLE, idle_since=9.0
    )
    ops = [busy, fresh, expert]
    everyone = frozenset({"op1", "op2", "op3"})
    assert assign([waiting("c", set(everyone))], ops, 10.0) == [("c", "op1")]  # longest idle
    few = WaitingCall("c", 0, 0.0, everyone, strategy="fewest_calls")
    assert assign([few], ops, 10.0) == [("c", "op2")]  # ties (0 calls): longest idle
    best = WaitingCall("c", 0, 0.0, everyone, strategy="best_skill", skills=("dms",))
    assert assign([best], ops, 10.0) == [("c", "op3")]
