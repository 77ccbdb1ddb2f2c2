"""A callback task's life: its states, what a miss asks of the ledger, when the next
attempt is due after an outcome, and whether a callback may take an operator now.

Pure functions of plain values: the engine's dispatcher, `simulate` and the tests call
the same ones. Storage (`router/storage/callbacks.py`) only records what these decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from router.domain.calendar import Calendar, is_open, next_opening
from router.domain.callback_policy import CallbackPolicy, MissReason, decide_callback


class TaskState(StrEnum):
    OPEN = "open"  # waiting for its due time (or for an operator)
    CLAIMED = "claimed"  # a dispatcher took it; an attempt may be under way
    CLOSED = "closed"  # worked to an outcome (see `CloseReason`)
    DONE = "done"  # an operator marked it worked by hand
    CANCELLED = "cancelled"  # an operator or admin dropped it
    UNREACHABLE = "unreachable"  # every attempt failed


ACTIVE_STATES = frozenset({TaskState.OPEN, TaskState.CLAIMED})  # one such task per number


class AttemptOutcome(StrEnum):
    CONNECTED = "connected"  # patient and operator talked
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # the trunk or the network refused the call
    WRONG_NUMBER = "wrong_number"  # the operator reached someone else
    CANCELLED = "cancelled"  # the operator dropped the callback during the attempt
    INTERRUPTED = "interrupted"  # stopped before the patient was dialled (operator left)


class CloseReason(StrEnum):
    CONNECTED = "connected"  # a callback conversation happened
    REACHED_OPERATOR = "reached_operator"  # the patient called in and reached an operator
    WRONG_NUMBER = "wrong_number"
    DO_NOT_CALL = "do_not_call"  # the patient's profile forbids calling them
    UNREACHABLE = "unreachable"  # max_attempts used up
    CANCELLED = "cancelled"
    DONE = "done"


_RETRIED = frozenset({AttemptOutcome.NO_ANSWER, AttemptOutcome.BUSY, AttemptOutcome.FAILED})
_CLOSES = {
    AttemptOutcome.CONNECTED: CloseReason.CONNECTED,
    AttemptOutcome.WRONG_NUMBER: CloseReason.WRONG_NUMBER,
    AttemptOutcome.CANCELLED: CloseReason.CANCELLED,
}


def state_after_close(reason: CloseReason) -> TaskState:
    """The terminal state a close reason leaves a task in."""
    if reason is CloseReason.UNREACHABLE:
        return TaskState.UNREACHABLE
    if reason is CloseReason.CANCELLED:
        return TaskState.CANCELLED
    if reason is CloseReason.DONE:
        return TaskState.DONE
    return TaskState.CLOSED


@dataclass(frozen=True, slots=True)
class MissPlan:
    """What the ledger should do with one miss (the fields of `MissInput` it decides)."""

    create_task: bool
    due_at: datetime | None  # the first attempt; None with `create_task` False
    priority_raise: int  # added to an open task's priority when this miss joins it
    why: str  # for the call's journey


def plan_miss(
    policy: CallbackPolicy,
    reason: MissReason,
    *,
    waited_s: float,
    missed_at: datetime,
    calendar: Calendar | None,
    number_known: bool,
) -> MissPlan:
    """`decide_callback`, plus what a repeated miss adds to an open task's priority."""
    decision = decide_callback(
        policy,
        reason,
        waited_s=waited_s,
        now=missed_at,
        calendar=calendar,
        caller_known_number=number_known,
    )
    due = decision.first_attempt_at if decision.create else None
    if decision.create and due is None:  # calling hours never open: keep it visible anyway
        due = missed_at
    return MissPlan(decision.create, due, policy.repeat_priority_step, decision.reason)


# An operator who hangs up during the whisper has turned this call back down for now:
# offered again at once, the same (now free) operator would be rung again and again.
OPERATOR_LEFT_PAUSE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class NextStep:
    """After an attempt: retry at `due_at`, or close with `close_reason` (exactly one set)."""

    due_at: datetime | None = None
    close_reason: CloseReason | None = None


def uses_an_attempt(outcome: AttemptOutcome) -> bool:
    """Whether an attempt counts towards `max_attempts`. An interrupted one (the router
    stopped, Asterisk restarted, the operator left before the patient was dialled) never
    reached the patient: it uses none of their attempts."""
    return outcome is not AttemptOutcome.INTERRUPTED


def after_attempt(
    policy: CallbackPolicy,
    outcome: AttemptOutcome,
    *,
    attempts: int,
    at: datetime,
    calendar: Calendar | None,
    do_not_call: bool = False,
    operator_left: bool = False,
) -> NextStep:
    """What follows an attempt's `outcome`; `attempts` counts this one.

    A retry waits `retry_after_min[attempts]` minutes (the last value repeats), then for
    the calling hours of `calendar`. Do-not-call wins over everything: the patient asked.
    """
    if do_not_call:
        return NextStep(close_reason=CloseReason.DO_NOT_CALL)
    if outcome is AttemptOutcome.INTERRUPTED:
        # The patient was never dialled: nothing to wait for, unless the operator left.
        return NextStep(due_at=at + OPERATOR_LEFT_PAUSE if operator_left else at)
    if outcome not in _RETRIED:
        return NextStep(close_reason=_CLOSES[outcome])
    if attempts >= policy.max_attempts:
        return NextStep(close_reason=CloseReason.UNREACHABLE)
    return NextStep(due_at=retry_due(policy, attempts, at, calendar))


def retry_due(
    policy: CallbackPolicy, attempts: int, at: datetime, calendar: Calendar | None
) -> datetime:
    """When attempt `attempts + 1` may start, counting from `at` (the last attempt)."""
    schedule = policy.retry_after_min or (0,)
    wait = schedule[min(attempts, len(schedule) - 1)]
    due = at + timedelta(minutes=wait)
    if calendar is None:
        return due
    opening = next_opening(calendar, due)
    return due if opening is None else opening


@dataclass(frozen=True, slots=True)
class DispatchVerdict:
    allowed: bool
    why: str


def may_dispatch(
    policy: CallbackPolicy,
    *,
    now: datetime,
    calendar: Calendar | None,
    free_operators: int,
    oldest_inbound_since: datetime | None,
    task_place: datetime,
    keep_place: bool = False,
) -> DispatchVerdict:
    """Whether a due callback may take an operator now, competing with inbound callers.

    `oldest_inbound_since` is when the longest-waiting inbound caller started waiting
    (None: nobody waits). A "keep my place" task whose place comes before every waiting
    caller is served like the caller it was: the competition keys do not apply to it.
    """
    if calendar is not None and not is_open(calendar, now).open:
        return DispatchVerdict(False, "outside calling hours")
    if free_operators < 1:
        return DispatchVerdict(False, "no operator is free")
    if keep_place and (oldest_inbound_since is None or task_place <= oldest_inbound_since):
        return DispatchVerdict(True, "its place comes before every waiting caller")
    if free_operators < policy.dispatch_min_free_operators:
        return DispatchVerdict(
            False,
            f"{free_operators} operator(s) free, under dispatch_min_free_operators "
            f"{policy.dispatch_min_free_operators}",
        )
    limit = policy.dispatch_max_inbound_wait_s
    if limit is not None and oldest_inbound_since is not None:
        waited = (now - oldest_inbound_since).total_seconds()
        if waited > limit:
            return DispatchVerdict(
                False,
                f"an inbound caller has waited {waited:.0f} s, over "
                f"dispatch_max_inbound_wait_s {limit}",
            )
    return DispatchVerdict(True, "an operator is free and no inbound caller is kept waiting")
