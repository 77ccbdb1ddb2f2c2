"""What the repositories take and return: frozen plain values, no SQLAlchemy objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from router.domain.callback_schedule import TaskState
from router.domain.calls import Phase
from router.domain.miss_target import MissTarget
from router.domain.operators import Presence


@dataclass(frozen=True, slots=True)
class Appointment:
    """A booked visit. `starts_at` is aware (read back in UTC)."""

    starts_at: datetime
    doctor: str | None = None
    branch: str | None = None


@dataclass(frozen=True, slots=True)
class LastContact:
    """The patient's last contact with the clinic, as the clinic's systems recorded it."""

    at: datetime  # aware (read back in UTC)
    operator_id: str | None = None
    category: str | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A patient as imported from the clinic's systems. `phones` are E.164, in order;
    `appointments` are in time order (the repository sorts them on write)."""

    id: str
    name: str
    phones: tuple[str, ...] = ()
    assigned_operator_id: str | None = None
    team: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    preferred_branch: str | None = None
    do_not_call: bool = False
    birth_year: int | None = None  # tells apart patients sharing a phone
    last_contact: LastContact | None = None
    appointments: tuple[Appointment, ...] = ()


@dataclass(frozen=True, slots=True)
class OperatorRow:
    """An operator as stored: configuration plus the last saved live state."""

    id: str
    name: str
    endpoint: str
    team: str | None
    branch: str | None
    configured: bool  # False once removed from the configuration (kept for history)
    state: Presence
    state_reason: str | None
    state_changed_at: datetime | None
    idle_since: datetime | None
    calls_today: int
    consecutive_no_answers: int


@dataclass(frozen=True, slots=True)
class CallRow:
    """A call's persisted state: enough to adopt it after a restart, and its summary.

    `phase` holds a `Phase` value and `outcome` an `Outcome` value (plain strings are
    accepted and checked on write; rows read back carry the enum members).
    """

    id: str  # the caller channel's Asterisk id
    app: str
    caller_raw: str  # truncated to 80 characters on write; for display only
    did: str
    started_at: datetime
    phase: str = Phase.NEW
    caller_e164: str | None = None
    line: str | None = None
    patient_id: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    operator_id: str | None = None
    bridge_id: str | None = None
    operator_channel_id: str | None = None
    tried_operators: tuple[str, ...] = ()
    rules_version: str | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One step of a call's journey."""

    id: int
    call_id: str
    at: datetime
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RingAttemptRow:
    """One operator rung for one call: who, when, for how long, and how it ended."""

    id: int
    call_id: str
    operator_id: str
    channel_id: str | None
    started_at: datetime
    ended_at: datetime | None
    result: str | None  # a `RingResult` value
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class OperatorSync:
    """What `OperatorRepository.sync` changed, for the log line."""

    added: tuple[str, ...]
    removed: tuple[str, ...]  # left the configuration: now offline and `configured=False`


@dataclass(frozen=True, slots=True)
class MissInput:
    """One missed call, as the engine (or the fallback catch-up) reports it to the ledger.

    `create_task` and `due_at` come from the callback policy (`plan_miss`); a miss with
    `number_e164=None` (withheld caller ID) is recorded as lost-anonymous, never a task.
    """

    call_id: str
    line: str | None
    number_e164: str | None
    patient_id: str | None
    reason: str  # a `MissReason` value or a finer one (`ivr_abandoned`, `fallback`...)
    waited_s: float
    missed_at: datetime
    due_at: datetime | None  # the first attempt; None: at `missed_at`
    create_task: bool
    priority_raise: int = 1  # added to an open task's priority when this miss joins it
    # "Keep my place": the caller's original place (when they started waiting). Tasks are
    # worked in the order of their place, so the callback does not go to the back.
    place_at: datetime | None = None
    keep_place: bool = False
    callback_number: str | None = None  # another number the caller asked to be called on
    preferred_operator_id: str | None = None  # assigned manager, or last operator spoken to
    target: MissTarget | None = None  # where the call was meant to go (queue, skills, person)


@dataclass(frozen=True, slots=True)
class MissResult:
    miss_id: int
    task_id: int | None  # None: no task (anonymous, or the policy made none)
    created: bool  # this miss opened a new task (else it joined an open one, or none)
    miss_count: int  # the task's misses so far; 0 without a task
    duplicate: bool = False  # this call's miss was recorded before: nothing changed


@dataclass(frozen=True, slots=True)
class CallbackTask:
    """A callback task: one active (open or claimed) task per patient number."""

    id: int
    number_e164: str
    patient_id: str | None
    line: str | None
    state: TaskState
    reasons: tuple[str, ...]  # every miss reason, first seen first
    miss_count: int
    first_missed_at: datetime  # the task's place in line (with `priority`)
    last_missed_at: datetime
    priority: int
    due_at: datetime
    attempts: int
    attempt_started_at: datetime | None  # set while a dial may be under way
    last_attempt_at: datetime | None
    last_outcome: str | None  # an `AttemptOutcome` value
    claimed_by: str | None
    claimed_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None  # a `CloseReason` value
    closed_by: str | None
    closed_call_id: str | None  # the inbound call that reached an operator
    note: str | None
    preferred_operator_id: str | None
    callback_number: str | None
    keep_place: bool
    created_at: datetime
    attempt_stage: str | None = None  # an `AttemptStage` value while an attempt runs
    attempt_operator_id: str | None = None
    target: MissTarget | None = None  # the latest specific miss's (None: the line's default)
    first_attempt_at: datetime | None = None  # when the first attempt started (reports)

    @property
    def dial_number(self) -> str:
        """The number to call: the one the caller gave, else the one they called from."""
        return self.callback_number or self.number_e164


@dataclass(frozen=True, slots=True)
class MissRow:
    id: int
    call_id: str
    line: str | None
    number_e164: str | None
    patient_id: str | None
    reason: str
    waited_s: float
    missed_at: datetime
    task_id: int | None
    anonymous: bool


@dataclass(frozen=True, slots=True)
class CallbackSummary:
    """Figures for supervisors; the period ones count from `since` (None: all history)."""

    since: datetime | None
    open_tasks: int  # open or claimed, whenever they were created
    oldest_open_age_s: float | None
    misses: int
    lost_anonymous: int
    closed: int
    closed_by_reason: Mapping[str, int]
    median_time_to_callback_s: float | None  # first miss to a callback conversation
    share_closed_connected: float | None  # of the tasks closed in the period
