"""Which missed calls become callback tasks, and when to try calling back.

Every miss the clinic cares about becomes a task (the seeds: "100% of calls worked"), but
a caller who hung up within a couple of seconds usually misdialled; `min_abandon_s`
filters those out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from router.domain.calendar import Calendar, next_opening


class MissReason(StrEnum):
    ABANDONED = "abandoned"  # the caller hung up while waiting
    NO_OPERATOR = "no_operator"  # nobody could take it
    MAX_WAIT = "max_wait"  # the queue's maximum wait ran out
    AFTER_HOURS = "after_hours"  # a route sent it to callback outside opening hours
    REQUESTED = "requested"  # the caller chose "call me back" or left a voicemail


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    create_on: frozenset[MissReason] = frozenset(MissReason)
    min_abandon_s: int = 5
    retry_after_min: tuple[int, ...] = (0, 30, 120)  # after the miss, then between tries
    max_attempts: int = 3
    calendar: str | None = None  # calling hours; None = any time
    # Added for the callback ledger and dispatch (router/domain/callback_schedule.py):
    repeat_priority_step: int = 1  # priority added by each further miss of an open task
    dispatch_min_free_operators: int = 1  # K: callbacks need at least K free operators
    dispatch_max_inbound_wait_s: int | None = None  # X: none while a caller waits over X s


@dataclass(frozen=True, slots=True)
class CallbackDecision:
    create: bool
    reason: str
    first_attempt_at: datetime | None = None


def decide_callback(
    policy: CallbackPolicy,
    reason: MissReason,
    *,
    waited_s: float,
    now: datetime,
    calendar: Calendar | None,
    caller_known_number: bool = True,
) -> CallbackDecision:
    """Whether a miss creates a callback task, and when the first attempt is due."""
    if not caller_known_number:
        return CallbackDecision(False, "the caller's number is withheld or invalid")
    if reason not in policy.create_on:
        return CallbackDecision(False, f"callback.create_on does not include {reason}")
    if reason is MissReason.ABANDONED and waited_s < policy.min_abandon_s:
        return CallbackDecision(
            False, f"hung up after {waited_s:.0f} s, under min_abandon_s {policy.min_abandon_s}"
        )
    due = now + timedelta(minutes=policy.retry_after_min[0] if policy.retry_after_min else 0)
    if calendar is not None:
        opening = next_opening(calendar, due)
        if opening is None:
            return CallbackDecision(True, f"{reason}: task created; calling hours never open")
        due = opening
    return CallbackDecision(True, f"{reason}: task created", due)
