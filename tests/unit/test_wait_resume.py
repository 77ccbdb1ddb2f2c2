"""The resume decision for a caller found waiting after a router restart (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from router.domain.routing import (
    AssignedTarget,
    CallbackTarget,
    HangUpTarget,
    MenuTarget,
    OperatorTarget,
    QueueTarget,
    RoutesTarget,
    SkillsTarget,
    Target,
)
from router.domain.wait_resume import (
    KEEP_PLACE_EVENT,
    WAITING_EVENT,
    RulesView,
    WaitRecord,
    answers_of,
    resume_point,
    target_from_json,
    target_to_json,
    wait_record_of,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RULES = RulesView(queues={"lab", "front"}, menus={"main"}, routes={"main"})


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def record(
    target: Target, since_s: float, step_s: float, menus: tuple[str, ...] = ()
) -> WaitRecord:
    return WaitRecord(target, ago(since_s), ago(step_s), 2, menus)


def test_a_waiting_caller_keeps_queue_place_steps_and_budget() -> None:
    point = resume_point(record(QueueTarget("lab"), 95, 40, ("main:2",)), NOW, RULES)
    assert point.target == QueueTarget("lab")
    assert point.waited_s == pytest.approx(40)  # relaxed steps and budget used so far
    assert point.place_s == pytest.approx(95)  # arrival in the waiting room
    assert point.answers == {"main": "2"} and point.menu_path == ("main:2",)
    assert not point.kept_place and point.why == ""


def test_a_queue_removed_by_a_reload_walks_the_routes_again_keeping_the_place() -> None:
    point = resume_point(record(QueueTarget("gone"), 60, 60), NOW, RULES)
    assert point.target is None
    assert point.place_s == pytest.approx(60) and point.waited_s == 0
    assert "queue gone" in point.why


def test_a_personal_wait_whose_otherwise_names_a_removed_queue_walks_the_routes() -> None:
    target = OperatorTarget("op1", 30, QueueTarget("gone"))
    point = resume_point(record(target, 10, 10), NOW, RULES)
    assert point.target is None and "queue gone" in point.why


def test_a_personal_wait_resumes_as_it_was() -> None:
    target = AssignedTarget(45, QueueTarget("front"))
    point = resume_point(record(target, 20, 20), NOW, RULES)
    assert point.target == target and point.waited_s == pytest.approx(20)


def test_no_recorded_wait_walks_the_routes_again() -> None:
    point = resume_point(None, NOW, RULES)
    assert point.target is None and point.place_s is None and point.waited_s == 0


def test_a_caller_who_asked_to_be_called_back_is_not_put_back_in_line() -> None:
    events = [
        (WAITING_EVENT, {"for": "queue lab", **record(QueueTarget("lab"), 50, 50).to_json()}),
        (KEEP_PLACE_EVENT, {"waited_s": 40}),
    ]
    point = resume_point(wait_record_of(events), NOW, RULES)
    assert point.kept_place and point.target is None


def test_a_keep_place_miss_in_the_ledger_ends_the_wait_without_the_journey_event() -> None:
    """The router died after the miss landed, before the keep_place event: the ledger's
    word is enough (else the caller is both called back and put back in line)."""
    events = [(WAITING_EVENT, record(QueueTarget("lab"), 50, 50).to_json())]
    assert not resume_point(wait_record_of(events), NOW, RULES).kept_place
    point = resume_point(wait_record_of(events, kept_place=True), NOW, RULES)
    assert point.kept_place and point.target is None
    assert point.place_s == pytest.approx(50)


def test_the_last_wait_counts_and_a_clock_ahead_of_now_counts_as_zero() -> None:
    first = record(QueueTarget("front"), 100, 100).to_json()
    second = WaitRecord(QueueTarget("lab"), ago(100), NOW + timedelta(seconds=5), 0).to_json()
    found = wait_record_of([(WAITING_EVENT, first), (WAITING_EVENT, second)])
    assert found is not None and found.target == QueueTarget("lab")
    point = resume_point(found, NOW, RULES)
    assert point.waited_s == 0 and point.place_s == pytest.approx(100)


@pytest.mark.parametrize(
    "data",
    [
        {"for": "queue lab", "max_wait_s": 300},  # a journey written before the record
        {"target": {"kind": "nope"}, "since": NOW.isoformat(), "step_since": NOW.isoformat()},
        {"target": {"kind": "queue", "queue": "lab"}, "since": "yesterday", "step_since": "x"},
        {
            "target": {"kind": "queue", "queue": "lab"},
            "since": "2026-12-03T12:00:00",
            "step_since": "2026-12-03T12:00:00",
        },  # no time zone
        {"target": [], "since": NOW.isoformat(), "step_since": NOW.isoformat()},
    ],
)
def test_an_unreadable_record_is_no_record(data: dict[str, object]) -> None:
    assert WaitRecord.from_json(data) is None
    assert wait_record_of([(WAITING_EVENT, data)]) is None


@pytest.mark.parametrize(
    "target",
    [
        QueueTarget("lab"),
        SkillsTarget(("paid", "lab"), 3, 90),
        SkillsTarget((), 1, 0),
        AssignedTarget(30, OperatorTarget("op2", 20, MenuTarget("main"))),
        OperatorTarget("op1", 10, RoutesTarget("main")),
        CallbackTarget("msg", True),
        CallbackTarget(),
        HangUpTarget("bye"),
        HangUpTarget(),
    ],
)
def test_targets_survive_the_journey(target: Target) -> None:
    assert target_from_json(target_to_json(target)) == target


def test_answers_of_takes_the_last_answer_per_menu() -> None:
    assert answers_of(["main:2", "lab:1", "main:3", "junk"]) == {"main": "3", "lab": "1"}


def test_the_journal_never_sheds_what_a_restart_resumes_from() -> None:
    from router.engine.recorder import Kind, kind_of
    from router.storage.journal import CallEvent

    assert kind_of(CallEvent("c1", WAITING_EVENT, {}, NOW)) is Kind.CALL
    assert kind_of(CallEvent("c1", KEEP_PLACE_EVENT, {}, NOW)) is Kind.CALL
    assert kind_of(CallEvent("c1", "played", {}, NOW)) is Kind.JOURNEY
