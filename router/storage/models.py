"""What the repositories take and return: frozen plain values, no SQLAlchemy objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from router.domain.calls import Phase
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
