"""The callback schedule: retries, calling hours, priority and competing with inbound calls."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.domain.calendar import Calendar, TimeRange, is_open
from router.domain.callback_policy import CallbackPolicy, MissReason
from router.domain.callback_schedule import (
    AttemptOutcome,
    CloseReason,
    TaskState,
    after_attempt,
    may_dispatch,
    plan_miss,
    retry_due,
    state_after_close,
    uses_an_attempt,
)

MSK = ZoneInfo("Europe/Moscow")
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=MSK)  # a Tuesday
HOURS = Calendar("calls", weekly={d: (TimeRange(time(9), time(20)),) for d in range(5)})
POLICY = CallbackPolicy(retry_after_min=(5, 30, 120), max_attempts=4)
RETRIED = [AttemptOutcome.NO_ANSWER, AttemptOutcome.BUSY, AttemptOutcome.FAILED]


@pytest.mark.parametrize(("attempts", "wait_min"), [(1, 30), (2, 120), (3, 120)])
def test_retries_follow_the_schedule_and_repeat_its_last_step(attempts: int, wait_min: int) -> None:
    step = after_attempt(
        POLICY, AttemptOutcome.NO_ANSWER, attempts=attempts, at=NOON, calendar=None
    )
    assert step.close_reason is None and step.due_at == NOON + timedelta(minutes=wait_min)


def test_max_attempts_closes_as_unreachable() -> None:
    step = after_attempt(POLICY, AttemptOutcome.BUSY, attempts=4, at=NOON, calendar=None)
    assert step == after_attempt(POLICY, AttemptOutcome.FAILED, attempts=9, at=NOON, calendar=None)
    assert (step.due_at, step.close_reason) == (None, CloseReason.UNREACHABLE)
    assert state_after_close(CloseReason.UNREACHABLE) is TaskState.UNREACHABLE


@pytest.mark.parametrize(
    ("outcome", "reason", "state"),
    [
        (AttemptOutcome.CONNECTED, CloseReason.CONNECTED, TaskState.CLOSED),
        (AttemptOutcome.WRONG_NUMBER, CloseReason.WRONG_NUMBER, TaskState.CLOSED),
        (AttemptOutcome.CANCELLED, CloseReason.CANCELLED, TaskState.CANCELLED),
    ],
)
def test_final_outcomes_close_at_once(
    outcome: AttemptOutcome, reason: CloseReason, state: TaskState
) -> None:
    step = after_attempt(POLICY, outcome, attempts=1, at=NOON, calendar=None)
    assert (step.due_at, step.close_reason) == (None, reason)
    assert state_after_close(reason) is state


def test_do_not_call_wins_over_every_outcome() -> None:
    for outcome in AttemptOutcome:
        step = after_attempt(POLICY, outcome, attempts=1, at=NOON, calendar=None, do_not_call=True)
        assert step.close_reason is CloseReason.DO_NOT_CALL


def test_a_retry_after_closing_time_waits_for_the_morning() -> None:
    evening = datetime(2026, 12, 4, 19, 45, tzinfo=MSK)  # Friday: next opening is Monday
    due = retry_due(POLICY, 1, evening, HOURS)
    assert due == datetime(2026, 12, 7, 9, 0, tzinfo=MSK)


@given(
    attempts=st.integers(min_value=1, max_value=30),
    at=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(MSK)
    ),
    outcome=st.sampled_from(RETRIED),
)
def test_a_retry_is_never_early_and_always_within_calling_hours(
    attempts: int, at: datetime, outcome: AttemptOutcome
) -> None:
    step = after_attempt(POLICY, outcome, attempts=attempts, at=at, calendar=HOURS)
    if attempts >= POLICY.max_attempts:
        assert step.close_reason is CloseReason.UNREACHABLE
        return
    assert step.due_at is not None and step.close_reason is None
    assert step.due_at >= at + timedelta(minutes=30)
    assert is_open(HOURS, step.due_at).open


def test_plan_miss_adds_the_priority_step_to_decide_callback() -> None:
    policy = CallbackPolicy(min_abandon_s=3, repeat_priority_step=2)
    short = plan_miss(
        policy, MissReason.ABANDONED, waited_s=1, missed_at=NOON, calendar=None, number_known=True
    )
    kept = plan_miss(
        policy, MissReason.ABANDONED, waited_s=5, missed_at=NOON, calendar=None, number_known=True
    )
    anonymous = plan_miss(
        policy,
        MissReason.NO_OPERATOR,
        waited_s=5,
        missed_at=NOON,
        calendar=None,
        number_known=False,
    )
    assert (short.create_task, short.due_at) == (False, None)
    assert (kept.create_task, kept.due_at, kept.priority_raise) == (True, NOON, 2)
    assert not anonymous.create_task


def test_plan_miss_after_hours_is_due_at_opening() -> None:
    night = datetime(2026, 12, 1, 22, 0, tzinfo=MSK)
    plan = plan_miss(
        CallbackPolicy(), MissReason.AFTER_HOURS, waited_s=0, missed_at=night, calendar=HOURS,
        number_known=True,
    )  # fmt: skip
    assert plan.due_at == datetime(2026, 12, 2, 9, 0, tzinfo=MSK)


def dispatch(policy: CallbackPolicy = POLICY, **kw: object) -> tuple[bool, str]:
    args: dict[str, object] = {
        "now": NOON,
        "calendar": HOURS,
        "free_operators": 1,
        "oldest_inbound_since": None,
        "task_place": NOON - timedelta(minutes=10),
        "keep_place": False,
        **kw,
    }
    verdict = may_dispatch(policy, **args)  # type: ignore[arg-type]
    return verdict.allowed, verdict.why


def test_dispatch_needs_calling_hours_and_a_free_operator() -> None:
    assert dispatch() == (True, "an operator is free and no inbound caller is kept waiting")
    assert dispatch(now=NOON.replace(hour=21)) == (False, "outside calling hours")
    assert dispatch(free_operators=0) == (False, "no operator is free")


def test_dispatch_competition_keys() -> None:
    policy = CallbackPolicy(dispatch_min_free_operators=2, dispatch_max_inbound_wait_s=60)
    allowed, why = dispatch(policy)
    assert not allowed and "under dispatch_min_free_operators 2" in why
    assert dispatch(policy, free_operators=2)[0]
    waiting = NOON - timedelta(seconds=90)
    allowed, why = dispatch(policy, free_operators=2, oldest_inbound_since=waiting)
    assert not allowed and "waited 90 s, over dispatch_max_inbound_wait_s 60" in why
    assert dispatch(policy, free_operators=2, oldest_inbound_since=NOON - timedelta(seconds=30))[0]


def test_a_kept_place_goes_before_later_callers_whatever_the_keys() -> None:
    policy = CallbackPolicy(dispatch_min_free_operators=3, dispatch_max_inbound_wait_s=10)
    place = NOON - timedelta(minutes=5)
    later_caller = NOON - timedelta(minutes=2)
    earlier_caller = NOON - timedelta(minutes=8)
    assert dispatch(policy, keep_place=True, task_place=place, oldest_inbound_since=later_caller)[0]
    assert not dispatch(
        policy, keep_place=True, task_place=place, oldest_inbound_since=earlier_caller
    )[0]
    assert not dispatch(policy, task_place=place, oldest_inbound_since=later_caller)[0]


@given(
    free=st.integers(min_value=0, max_value=10),
    waited_s=st.none() | st.integers(min_value=0, max_value=3600),
    keep_place=st.booleans(),
    k=st.integers(min_value=1, max_value=5),
    x=st.none() | st.integers(min_value=0, max_value=600),
    minute=st.integers(min_value=0, max_value=7 * 24 * 60),
)
def test_dispatch_properties(
    free: int, waited_s: int | None, keep_place: bool, k: int, x: int | None, minute: int
) -> None:
    policy = CallbackPolicy(dispatch_min_free_operators=k, dispatch_max_inbound_wait_s=x)
    now = NOON + timedelta(minutes=minute)
    since = None if waited_s is None else now - timedelta(seconds=waited_s)
    common = {
        "now": now,
        "oldest_inbound_since": since,
        "keep_place": keep_place,
        "task_place": now - timedelta(minutes=1),
    }
    allowed, _ = dispatch(policy, free_operators=free, **common)
    if allowed:  # never outside hours, never without a free operator
        assert is_open(HOURS, now).open and free >= 1
    # More free operators never turn a yes into a no.
    assert not allowed or dispatch(policy, free_operators=free + 1, **common)[0]
    # With nobody waiting inbound, only hours and K decide.
    if since is None:
        assert allowed == (is_open(HOURS, now).open and free >= (1 if keep_place else k))


def test_only_an_interrupted_attempt_uses_none_of_the_patients_attempts() -> None:
    assert [o for o in AttemptOutcome if not uses_an_attempt(o)] == [AttemptOutcome.INTERRUPTED]
