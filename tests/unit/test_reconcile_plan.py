"""The reconcile plan (router.domain.reconcile_plan): what a restarted or reconnected
router does with every open call and every channel of ours, from plain values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.reconcile_plan import (
    Adopt,
    AdoptedRing,
    Close,
    HangUp,
    OpenCall,
    Plan,
    Seen,
    SeenChannel,
    plan_reconcile,
)

OPS = ("op1", "op2", "op3")


def test_a_caller_gone_while_away_is_closed_and_its_ring_hung_up() -> None:
    seen = Seen(
        channels={"c1-op1": SeenChannel("c1-op1", operator="op1")},
        bridges={"cr-c1": ("c1-op1",)},
        open_calls=(OpenCall("c1"),),
    )
    plan = plan_reconcile(seen)
    assert plan.steps == (HangUp("c1-op1"), Close("c1", answered=False))
    assert plan.orphan_bridges == ("cr-c1",)


def test_a_talking_call_is_adopted_with_its_operator() -> None:
    seen = Seen(
        channels={
            "c1": SeenChannel("c1"),
            "c1-op1": SeenChannel("c1-op1", operator="op1"),
            "c1-op2": SeenChannel("c1-op2", up=True, operator="op2"),
        },
        bridges={"cr-c1": ("c1", "c1-op2")},
        open_calls=(OpenCall("c1", bridged=True, tried=("op1",)),),
    )
    plan = plan_reconcile(seen)
    assert plan.steps == (
        HangUp("c1-op1"),
        Adopt("c1", ("op1", "op2"), bridged_with="c1-op2", operator_id="op2"),
    )
    assert plan.orphan_bridges == ()


def test_a_call_whose_operator_hung_up_while_away_is_over_not_queued_again() -> None:
    # The operator left the bridge during the restart; the caller is alone in it. They
    # talked: the call ends answered, and they are not told that nobody is available.
    seen = Seen(
        channels={"c1": SeenChannel("c1"), "c1-op1": SeenChannel("c1-op1", operator="op1")},
        bridges={"cr-c1": ("c1",)},
        open_calls=(OpenCall("c1", bridged=True, operator_id="op2", tried=("op2",)),),
    )
    plan = plan_reconcile(seen)
    assert plan.steps == (
        HangUp("c1-op1"),  # no ring rings on for a call that has talked
        Adopt("c1", ("op2", "op1"), operator_id="op2", talk_over=True),
    )


def test_the_last_ring_rings_on_and_older_ones_are_hung_up() -> None:
    seen = Seen(
        channels={
            "c1": SeenChannel("c1"),
            "c1-op2": SeenChannel("c1-op2", operator="op1"),
            "c1-op10": SeenChannel("c1-op10", operator="op3"),
        },
        bridges={},
        open_calls=(OpenCall("c1"),),
    )
    (hang_up, adopt) = plan_reconcile(seen).steps
    assert hang_up == HangUp("c1-op2")  # op10 is the later leg, though it sorts first
    assert isinstance(adopt, Adopt) and adopt.ringing == AdoptedRing("c1-op10", "op3")
    assert set(adopt.tried) == {"op1", "op3"}


def test_a_caller_the_database_lost_is_adopted_and_its_row_written() -> None:
    seen = Seen(
        channels={
            "c9": SeenChannel("c9", exten="100", caller_number="7999"),
            "c9-op1": SeenChannel("c9-op1", operator="op1"),
        },
        bridges={},
        app_channels=("c9", "c9-op1"),
    )
    (adopt,) = plan_reconcile(seen).steps
    assert adopt == Adopt(
        "c9",
        ("op1",),
        ringing=AdoptedRing("c9-op1", "op1"),
        known=False,
        exten="100",
        caller_number="7999",
    )


def test_callback_channels_and_what_runs_here_are_left_alone() -> None:
    seen = Seen(
        channels={
            "cb-4-1-opab": SeenChannel("cb-4-1-opab", operator="op1"),
            "c2": SeenChannel("c2"),
            "c2-op1": SeenChannel("c2-op1", operator="op1"),
        },
        bridges={"cr-c2": ("c2",)},
        app_channels=("cb-4-1-opab", "c2", "c2-op1"),
        open_calls=(OpenCall("c2"),),
        owned=frozenset({"c2", "c2-op1"}),
    )
    assert plan_reconcile(seen) == Plan()


# -- properties over any mix of calls, legs and bridges ---------------------------------


@st.composite
def situations(draw: st.DrawFn) -> Seen:
    calls = [f"c{i}" for i in range(draw(st.integers(0, 4)))]
    channels: dict[str, SeenChannel] = {}
    bridges: dict[str, tuple[str, ...]] = {}
    rows: list[OpenCall] = []
    owned: set[str] = set()
    for call in calls:
        alive = draw(st.booleans())
        if alive:
            channels[call] = SeenChannel(call, exten="100")
        legs = [f"{call}-op{n}" for n in range(1, draw(st.integers(0, 3)) + 1)]
        for leg in legs:
            if draw(st.booleans()):
                operator = draw(st.sampled_from((*OPS, None)))
                channels[leg] = SeenChannel(leg, up=draw(st.booleans()), operator=operator)
        live_legs = [leg for leg in legs if leg in channels]
        if draw(st.booleans()):
            talking = draw(st.sampled_from(live_legs)) if live_legs and alive else None
            members = [call] if alive else []
            bridges[f"cr-{call}"] = tuple(members + ([talking] if talking else []))
        if draw(st.booleans()):
            tried = tuple(draw(st.lists(st.sampled_from(OPS), max_size=2, unique=True)))
            rows.append(OpenCall(call, bridged=draw(st.booleans()), tried=tried))
        if alive and draw(st.integers(0, 4)) == 0:
            owned.update([call, *live_legs])
    if draw(st.booleans()):
        channels["cb-1-1-op9"] = SeenChannel("cb-1-1-op9", operator="op1")
    app = tuple(c for c in channels if draw(st.booleans()))
    return Seen(channels, bridges, app, tuple(rows), frozenset(owned))


def hung_up(plan: Plan) -> list[str]:
    return [s.channel for s in plan.steps if isinstance(s, HangUp)]


@settings(max_examples=300)
@given(situations())
def test_every_open_call_nobody_runs_is_adopted_or_closed_once(seen: Seen) -> None:
    plan = plan_reconcile(seen)
    settled = [s.call_id for s in plan.steps if isinstance(s, (Adopt, Close))]
    assert len(settled) == len(set(settled))
    for row in seen.open_calls:
        assert (row.id in settled) == (row.id not in seen.owned)
        if row.id not in seen.owned:
            closed = Close(row.id, answered=row.bridged) in plan.steps
            assert closed == (row.id not in seen.channels)
            over = [s for s in plan.adopted if s.call_id == row.id and s.talk_over]
            in_bridge = set(seen.bridges.get(f"cr-{row.id}", ()))
            talking = any(
                leg in in_bridge for leg in seen.channels if leg.startswith(row.id + "-op")
            )
            # a caller who talked and whose operator is gone is not queued again
            assert bool(over) == (row.bridged and row.id in seen.channels and not talking)


@settings(max_examples=300)
@given(situations())
def test_no_caller_talk_or_kept_ring_is_hung_up(seen: Seen) -> None:
    plan = plan_reconcile(seen)
    gone = hung_up(plan)
    assert len(gone) == len(set(gone))  # nothing hung up twice
    kept = {s.bridged_with for s in plan.adopted} | {
        s.ringing.leg for s in plan.adopted if s.ringing
    }
    for channel in gone:
        assert "-op" in channel, "only operator legs are hung up, never a caller"
        assert not channel.startswith("cb-"), "callback legs are the dispatcher's"
        assert channel not in seen.owned and channel not in kept


@settings(max_examples=300)
@given(situations())
def test_an_adopted_caller_is_never_rung_again_by_an_operator_already_rung(seen: Seen) -> None:
    plan = plan_reconcile(seen)
    for adopt in plan.adopted:
        rung = {
            seen.channels[c].operator
            for c in seen.channels
            if c.startswith(adopt.call_id + "-op") and seen.channels[c].operator
        }
        if adopt.bridged_with is None:  # a call talking rings nobody again
            assert rung <= set(adopt.tried)
        if adopt.ringing is not None:
            assert adopt.bridged_with is None  # a call talking rings nobody
            assert adopt.ringing.operator_id in adopt.tried


@settings(max_examples=300)
@given(situations())
def test_only_bridges_no_call_owns_are_orphans(seen: Seen) -> None:
    plan = plan_reconcile(seen)
    alive = seen.owned | {a.call_id for a in plan.adopted}
    for bridge in seen.bridges:
        assert (bridge in plan.orphan_bridges) == (bridge.removeprefix("cr-") not in alive)
