"""Route evaluation, menu trimming and queue-step eligibility in the pure core."""

from __future__ import annotations

from datetime import date, datetime, time
from types import MappingProxyType

from hypothesis import given
from hypothesis import strategies as st

from router.domain.calendar import Calendar, TimeRange
from router.domain.menus import Menu, MenuOption, answer, plan_menu
from router.domain.operators import Operator
from router.domain.queue_steps import Queue, QueueStep, eligible_operators, step_admits
from router.domain.routing import (
    CallerFacts,
    Condition,
    HangUpTarget,
    QueueTarget,
    Route,
    evaluate_routes,
    why_not,
)

NOW = datetime(2026, 12, 29, 11, 0)  # a Tuesday
CAL = Calendar("c", weekly={1: (TimeRange(time(9), time(18)),)})
CALS = {"c": CAL}
TAGS = ["dms", "oms", "vip", "checkup"]


def facts(**kw: object) -> CallerFacts:
    base: dict[str, object] = {"now": NOW, "calendar": "c", "line": "moscow"}
    base.update(kw)
    return CallerFacts(**base)  # type: ignore[arg-type]


def test_each_failed_check_gives_a_reason() -> None:
    cond = Condition(caller="known", tags_any=frozenset({"dms"}), hours="closed")
    reasons = why_not(cond, facts(), CALS)
    assert len(reasons) == 3
    assert reasons[0] == "caller is unknown, not known"
    assert "no tag among dms" in reasons[1]
    assert reasons[2].startswith("c open at 2026-12-29 11:00")


def test_conditions_hold() -> None:
    f = facts(known=True, tags=frozenset({"dms", "vip"}), assigned_operator="op1", language="en")
    cond = Condition(
        caller="known",
        tags_all=frozenset({"dms", "vip"}),
        tags_none=frozenset({"oms"}),
        has_assigned_operator=True,
        languages=frozenset({"en"}),
        lines=frozenset({"moscow"}),
        hours="open",
    )
    assert why_not(cond, f, CALS) == ()


def test_answers_and_appointments() -> None:
    f = facts(answers={"main": "3"}, appointments=(date(2026, 12, 30),))
    assert why_not(Condition(answers={"main": frozenset({"3"})}), f, CALS) == ()
    assert why_not(Condition(answers={"main": frozenset({"2"})}), f, CALS)
    assert why_not(Condition(appointment="tomorrow"), f, CALS) == ()
    assert why_not(Condition(appointment="today"), f, CALS)
    assert why_not(Condition(appointment="none"), facts(), CALS) == ()


def test_line_without_calendar_is_always_open() -> None:
    assert why_not(Condition(hours="open"), facts(calendar=None), CALS) == ()


conditions = st.builds(
    Condition,
    caller=st.sampled_from([None, "known", "unknown"]),
    tags_any=st.frozensets(st.sampled_from(TAGS), max_size=2),
    has_assigned_operator=st.sampled_from([None, True, False]),
    languages=st.frozensets(st.sampled_from(["ru", "en"]), max_size=1),
    hours=st.sampled_from([None, "open", "closed"]),
)
caller_facts = st.builds(
    facts,
    known=st.booleans(),
    tags=st.frozensets(st.sampled_from(TAGS)),
    assigned_operator=st.sampled_from([None, "op1"]),
    language=st.sampled_from(["ru", "en"]),
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
)
route_lists = st.lists(conditions, max_size=6).map(
    lambda cs: [Route(f"r{i}", c, HangUpTarget()) for i, c in enumerate(cs)]
)


@given(route_lists, caller_facts)
def test_first_match_wins(routes: list[Route], f: CallerFacts) -> None:
    decision = evaluate_routes(routes, f, CALS)
    matching = [i for i, r in enumerate(routes) if not why_not(r.when, f, CALS)]
    assert decision.index == (matching[0] if matching else None)
    assert len(decision.skipped) == (decision.index if matching else len(routes))
    assert all(s.reasons for s in decision.skipped)


@given(route_lists, conditions, caller_facts)
def test_adding_a_later_route_never_changes_an_earlier_match(
    routes: list[Route], extra: Condition, f: CallerFacts
) -> None:
    before = evaluate_routes(routes, f, CALS)
    after = evaluate_routes([*routes, Route("extra", extra, QueueTarget("q"))], f, CALS)
    if before.route is not None:
        assert after.route == before.route
        assert after.index == before.index


def option(key: str, **kw: object) -> MenuOption:
    return MenuOption(key, f"option {key}", HangUpTarget(), **kw)  # type: ignore[arg-type]


def test_menu_auto_option_for_tagged_caller() -> None:
    menu = Menu(
        "main", "p", (option("1"), option("3", auto_when=Condition(tags_any=frozenset({"dms"}))))
    )
    plan = plan_menu(menu, facts(tags=frozenset({"dms"})), CALS)
    assert plan.action == "auto"
    assert plan.chosen is not None and plan.chosen.key == "3"
    assert plan_menu(menu, facts(), CALS).action == "play"


def test_menu_with_one_option_left_is_skipped() -> None:
    hide = Condition(caller="unknown")
    menu = Menu("m", "p", (option("1"), option("2", hide_when=hide)))
    plan = plan_menu(menu, facts(), CALS)
    assert (plan.action, plan.hidden) == ("skip", ("2",))
    assert plan.chosen is not None and plan.chosen.key == "1"


def test_menu_answer_falls_back_to_default() -> None:
    menu = Menu("m", "p", (option("1"), option("2")), default="2")
    plan = plan_menu(menu, facts(), CALS)
    chosen, why = answer(plan, "7")
    assert chosen is not None and chosen.key == "2"
    assert why == "key 7 is not offered: default option 2"
    assert answer(plan, "1")[0] == menu.options[0]


def op(op_id: str, branch: str = "moscow", **skills: int) -> Operator:
    return Operator(op_id, op_id, f"PJSIP/{op_id}", branch=branch, skills=MappingProxyType(skills))


def test_steps_relax_over_time_and_overflow() -> None:
    ops = [op("a", paid=5), op("b", paid=2), op("c", branch="ryazan", paid=1)]
    moscow = Queue(
        "m",
        (QueueStep(0, ("paid",), 4), QueueStep(30, ("paid",), 2), QueueStep(90, (), 1, "r")),
        branches=frozenset({"moscow"}),
    )
    ryazan = Queue("r", (QueueStep(0, ("paid",), 1),), branches=frozenset({"ryazan"}))
    queues = {"m": moscow, "r": ryazan}
    ids = [[o.id for o in eligible_operators(moscow, t, ops, queues)] for t in (0, 29, 30, 90)]
    assert ids == [["a"], ["a"], ["a", "b"], ["a", "b", "c"]]


skills_maps = st.dictionaries(st.sampled_from(TAGS), st.integers(1, 5), max_size=4)
operator_lists = st.lists(skills_maps, max_size=8).map(
    lambda maps: [op(f"op{i}", "moscow", **m) for i, m in enumerate(maps)]
)
steps = st.builds(
    QueueStep,
    after_s=st.integers(0, 300),
    skills=st.lists(st.sampled_from(TAGS), max_size=2, unique=True).map(tuple),
    min_level=st.integers(1, 5),
)


@given(
    st.lists(steps, min_size=1, max_size=5),
    operator_lists,
    st.integers(0, 400),
    st.integers(0, 400),
)
def test_waiting_longer_never_makes_fewer_operators_eligible(
    step_list: list[QueueStep], ops: list[Operator], t1: int, t2: int
) -> None:
    ordered = tuple(sorted(step_list, key=lambda s: s.after_s))
    queue = Queue("q", ordered)
    early, late = sorted((t1, t2))
    before = {o.id for o in eligible_operators(queue, early, ops)}
    after = {o.id for o in eligible_operators(queue, late, ops)}
    assert before <= after


@given(steps, operator_lists, st.integers(0, 4), st.data())
def test_relaxing_a_step_never_shrinks_it(
    step: QueueStep, ops: list[Operator], lower_by: int, data: st.DataObject
) -> None:
    keep = data.draw(st.lists(st.sampled_from(step.skills), unique=True)) if step.skills else []
    relaxed = QueueStep(step.after_s, tuple(keep), max(1, step.min_level - lower_by))
    strict = {o.id for o in ops if step_admits(step, o)}
    loose = {o.id for o in ops if step_admits(relaxed, o)}
    assert strict <= loose
