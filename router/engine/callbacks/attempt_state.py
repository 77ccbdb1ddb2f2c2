"""What a callback attempt is called in Asterisk, where its task stands in the waiting
room, and how its outcome reaches the ledger: shared by the attempt and the dispatcher."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from router.domain.calendar import Calendar
from router.domain.callback_schedule import AttemptOutcome, after_attempt
from router.engine.call_state import CALLBACK_PREFIX
from router.engine.context import CallContext
from router.storage.models import CallbackTask

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Adopted:
    """A started attempt found alive in Asterisk after a restart."""

    operator_leg: str
    patient_leg: str
    patient_up: bool


def ringback_id(operator_leg: str) -> str:
    return f"{operator_leg}-ringback"


def attempt_prefix(task_id: int, attempt: int) -> str:
    """Every channel and the bridge of one attempt start with this."""
    return f"{CALLBACK_PREFIX}{task_id}-{attempt}-"


def calling_hours(ctx: CallContext, line_id: str | None) -> Calendar | None:
    """The policy's calling hours, else those of the task's line (None: any time)."""
    rules = ctx.rules()
    calendar_id = rules.callback.calendar
    if calendar_id is None:
        line = rules.line(line_id)
        calendar_id = line.calendar if line else None
    return rules.calendars.get(calendar_id) if calendar_id else None


async def record_outcome(
    ctx: CallContext,
    task: CallbackTask,
    outcome: AttemptOutcome,
    attempts: int,
    *,
    operator_left: bool = False,
) -> None:
    """The policy decides what follows an attempt (`after_attempt`); the ledger records it."""
    at = ctx.now()
    step = after_attempt(
        ctx.rules().callback,
        outcome,
        attempts=attempts,
        at=at,
        calendar=calling_hours(ctx, task.line),
        operator_left=operator_left,
    )
    done = await ctx.store.callbacks.finish_attempt(
        task.id, outcome, at, step.due_at, step.close_reason
    )
    then = step.close_reason.value if step.close_reason else f"retry at {step.due_at}"
    if done is None:
        log.warning("callback %s: the task changed meanwhile; %s not recorded", task.id, outcome)
    else:
        log.info("callback %s attempt %d: %s -> %s", task.id, attempts, outcome.value, then)


__all__ = [
    "Adopted",
    "attempt_prefix",
    "calling_hours",
    "record_outcome",
    "ringback_id",
]
