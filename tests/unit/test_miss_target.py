"""Where a miss was meant to go, and who may call it back (domain/miss_target.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.domain.miss_target import MissTarget, aim, callback_pool, merged
from router.domain.operators import Operator
from router.domain.queue_steps import Queue, QueueStep, eligible_operators
from router.domain.routing import (
    AssignedTarget,
    HangUpTarget,
    MenuTarget,
    OperatorTarget,
    QueueTarget,
    SkillsTarget,
)

OPS = (
    Operator("msk-lab", "a", "PJSIP/op1001", branch="moscow", skills={"lab": 3}),
    Operator("msk-desk", "b", "PJSIP/op1002", branch="moscow", skills={"desk": 1}),
    Operator("spb-lab", "c", "PJSIP/op1003", branch="spb", skills={"lab": 5}),
    Operator("spb-desk", "d", "PJSIP/op1004", branch="spb", skills={"desk": 2}),
)
LAB_MSK = Queue(
    "lab-msk",
    (QueueStep(0, ("lab",), 3), QueueStep(60, ("lab",), 1)),
    branches=frozenset({"moscow"}),
    strategy="best_skill",
)
QUEUES = {"lab-msk": LAB_MSK}


def pool(target: MissTarget | None, branch: str | None = "moscow") -> frozenset[str]:
    return callback_pool(target, line_branch=branch, operators=OPS, queues=QUEUES).eligible


def test_a_queue_miss_is_called_back_by_that_queues_branch_and_skill() -> None:
    found = callback_pool(
        MissTarget("msk", queue="lab-msk"), line_branch="moscow", operators=OPS, queues=QUEUES
    )
    assert found.eligible == {"msk-lab"}
    assert (found.strategy, found.skills) == ("best_skill", ("lab",))


def test_the_pool_is_the_queues_widest_as_the_live_routing_computes_it() -> None:
    widest = {op.id for op in eligible_operators(LAB_MSK, 10_000, OPS, QUEUES)}
    assert pool(MissTarget("msk", queue="lab-msk")) == widest


def test_a_skills_target_takes_every_branch_with_the_skill_level() -> None:
    assert pool(MissTarget("msk", skills=("lab",), min_level=4)) == {"spb-lab"}
    assert pool(MissTarget("msk", skills=("lab",), min_level=1)) == {"msk-lab", "spb-lab"}
    assert pool(MissTarget("msk", skills=())) == {op.id for op in OPS}  # "any operator"


def test_without_a_target_the_lines_branch_is_the_default() -> None:
    assert pool(None, "spb") == {"spb-lab", "spb-desk"}
    assert pool(MissTarget("spb"), "spb") == {"spb-lab", "spb-desk"}
    assert pool(None, None) == {op.id for op in OPS}


def test_a_queue_gone_from_the_rules_falls_back_to_the_line() -> None:
    assert pool(MissTarget("msk", queue="removed")) == {"msk-lab", "msk-desk"}


def test_the_person_the_call_was_for_is_preferred_and_eligible() -> None:
    found = callback_pool(
        MissTarget("msk", queue="lab-msk", operator="spb-desk"),
        line_branch="moscow",
        operators=OPS,
        queues=QUEUES,
    )
    assert found.eligible == {"msk-lab", "spb-desk"} and found.preferred == "spb-desk"
    alone = callback_pool(
        MissTarget("msk", operator="spb-lab"), line_branch="moscow", operators=OPS, queues=QUEUES
    )
    assert alone.preferred == "spb-lab"
    assert alone.eligible == {"spb-lab", "msk-lab", "msk-desk"}  # then the line's pool


def test_an_operator_no_longer_configured_is_ignored() -> None:
    found = callback_pool(
        MissTarget("msk", operator="gone"), line_branch="moscow", operators=OPS, queues=QUEUES
    )
    assert found.preferred is None and "gone" not in found.eligible


def test_the_walk_remembers_the_last_pool_and_person() -> None:
    t = aim(None, MenuTarget("main"), line="msk")
    assert t is None
    t = aim(t, AssignedTarget(20, QueueTarget("desk")), line="msk", assigned="msk-desk")
    assert t == MissTarget("msk", operator="msk-desk")
    t = aim(t, QueueTarget("lab-msk"), line="msk")
    assert t == MissTarget("msk", queue="lab-msk", operator="msk-desk")
    t = aim(t, SkillsTarget(("lab",), 2), line="msk")
    assert t == MissTarget("msk", skills=("lab",), min_level=2, operator="msk-desk")
    t = aim(t, OperatorTarget("spb-lab", 10, HangUpTarget()), line="msk")
    assert t is not None and t.operator == "spb-lab" and t.skills == ("lab",)
    assert aim(t, AssignedTarget(20, QueueTarget("x")), line="msk", assigned=None) == t


def test_a_repeat_miss_keeps_the_latest_specific_target() -> None:
    lab = MissTarget("msk", queue="lab-msk")
    desk = MissTarget("msk", skills=("desk",))
    assert merged(lab, desk) == desk
    assert merged(lab, None) == lab
    assert merged(lab, MissTarget("spb")) == lab  # only a line says nothing new
    assert merged(None, MissTarget("spb")) == MissTarget("spb")


targets = st.builds(
    MissTarget,
    line=st.none() | st.sampled_from(["msk", "spb"]),
    queue=st.none() | st.sampled_from(["lab-msk", "removed"]),
    skills=st.none() | st.lists(st.sampled_from(["lab", "desk"]), max_size=2).map(tuple),
    min_level=st.integers(1, 5),
    operator=st.none() | st.sampled_from([op.id for op in OPS] + ["gone"]),
)


@given(targets)
def test_json_round_trip(target: MissTarget) -> None:
    assert MissTarget.from_json(target.to_json()) == target


@given(targets, st.none() | st.sampled_from(["moscow", "spb"]))
def test_only_configured_operators_are_ever_eligible(
    target: MissTarget, branch: str | None
) -> None:
    assert pool(target, branch) <= {op.id for op in OPS}
