"""One callback attempt: its stages, what a ring of the patient's phone means for the task,
what a router that died mid-attempt concludes, and when the next attempt is due."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.domain.calendar import Calendar, TimeRange
from router.domain.callback_attempt import (
    AttemptStage,
    outcome_after_interruption,
    outcome_of_patient_ring,
)
from router.domain.callback_policy import CallbackPolicy
from router.domain.callback_schedule import OPERATOR_LEFT_PAUSE, AttemptOutcome, after_attempt
from router.domain.calls import RingResult

MSK = ZoneInfo("Europe/Moscow")
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=MSK)  # a Tuesday
NIGHT = datetime(2026, 12, 1, 23, 0, tzinfo=MSK)
HOURS = Calendar("calls", weekly={d: (TimeRange(time(9), time(20)),) for d in range(5)})
POLICY = CallbackPolicy(retry_after_min=(5, 30, 120), max_attempts=3)


def test_stages_are_stored_under_stable_names() -> None:
    # The database keeps these strings (`attempt_stage`): renaming one strands old rows.
    assert [s.value for s in AttemptStage] == ["operator", "patient", "bridged"]


@pytest.mark.parametrize(
    ("ring", "outcome"),
    [
        (RingResult.BUSY, AttemptOutcome.BUSY),
        (RingResult.NO_ANSWER, AttemptOutcome.NO_ANSWER),
        # the operator hung up while the patient's phone rang: it did ring, unanswered
        (RingResult.CANCELLED, AttemptOutcome.NO_ANSWER),
        (RingResult.UNAVAILABLE, AttemptOutcome.FAILED),
        (RingResult.FAILED, AttemptOutcome.FAILED),
    ],
)
def test_a_patient_ring_without_an_answer(ring: RingResult, outcome: AttemptOutcome) -> None:
    assert outcome_of_patient_ring(ring) is outcome


def test_every_unanswered_patient_ring_is_retried_by_the_schedule() -> None:
    for ring in RingResult:
        if ring is RingResult.ANSWERED:
            continue
        step = after_attempt(
            POLICY, outcome_of_patient_ring(ring), attempts=1, at=NOON, calendar=None
        )
        assert step.close_reason is None and step.due_at == NOON + timedelta(minutes=30), ring


@pytest.mark.parametrize(
    ("stage", "outcome"),
    [
        (AttemptStage.BRIDGED, AttemptOutcome.CONNECTED),  # they talked: not lost
        (AttemptStage.PATIENT, AttemptOutcome.NO_ANSWER),  # dialled: never at once again
        (AttemptStage.OPERATOR, AttemptOutcome.INTERRUPTED),  # never dialled
        (None, AttemptOutcome.INTERRUPTED),  # nothing recorded: never dialled either
    ],
)
def test_what_a_restart_concludes_from_the_stage(
    stage: AttemptStage | None, outcome: AttemptOutcome
) -> None:
    assert outcome_after_interruption(stage) is outcome


@given(attempts=st.integers(min_value=1, max_value=10), minute=st.integers(0, 7 * 24 * 60))
def test_an_interrupted_attempt_is_due_again_at_once(attempts: int, minute: int) -> None:
    at = NOON + timedelta(minutes=minute)
    step = after_attempt(
        POLICY, AttemptOutcome.INTERRUPTED, attempts=attempts, at=at, calendar=HOURS
    )
    # Never closed, even past max_attempts, and not moved to the calling hours here:
    # `may_dispatch` holds it until they open.
    assert (step.due_at, step.close_reason) == (at, None)


def test_do_not_call_wins_over_an_interruption() -> None:
    step = after_attempt(
        POLICY, AttemptOutcome.INTERRUPTED, attempts=1, at=NOON, calendar=None, do_not_call=True
    )
    assert step.due_at is None and step.close_reason is not None
    assert step.close_reason.value == "do_not_call"


@pytest.mark.parametrize("stage", [AttemptStage.PATIENT, AttemptStage.BRIDGED])
def test_a_dialled_patient_is_never_dialled_again_at_once_after_a_restart(
    stage: AttemptStage,
) -> None:
    for at in (NOON, NIGHT):
        step = after_attempt(
            POLICY, outcome_after_interruption(stage), attempts=1, at=at, calendar=HOURS
        )
        assert step.close_reason is not None or (step.due_at is not None and step.due_at > at)


def test_an_operator_who_left_during_the_whisper_pauses_the_task() -> None:
    step = after_attempt(
        POLICY, AttemptOutcome.INTERRUPTED, attempts=1, at=NOON, calendar=None, operator_left=True
    )
    assert step.close_reason is None
    assert step.due_at == NOON + OPERATOR_LEFT_PAUSE
