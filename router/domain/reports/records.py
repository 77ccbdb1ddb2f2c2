"""What the reports read, as plain values: one record per call, ring, miss, task and
operator state span. The storage adapter (`router/storage/report_rows.py`) builds them
from the journeys and the ledger; tests build them by hand.

`journey_facts` turns a call's journey events into the few facts the figures need, so
the rules for "abandoned where" or "fallback-served" live here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

AbandonedWhere = Literal["menu", "waiting", "ringing"]

# The journey event kinds `journey_facts` reads (the storage reads only these).
FACT_EVENTS = ("waiting", "ringing", "ring_result", "fallback", "abandoned")
FALLBACK_MISS = "fallback_unanswered"  # the label of a miss the dialplan fallback left


@dataclass(frozen=True, slots=True)
class JourneyFacts:
    queue: str | None = None  # what the caller first waited for ("queue dms", "assigned op1")
    waiting_at: datetime | None = None  # when they first waited for an operator
    first_ring_at: datetime | None = None  # when the first operator's phone rang
    fallback: bool = False  # the router handed the call to the dialplan fallback
    abandoned: AbandonedWhere | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call the router handled (a `calls` row and its journey's facts)."""

    id: str
    started_at: datetime
    outcome: str | None  # a `router.domain.calls.Outcome` value; None: still live
    line: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    operator_id: str | None = None
    known: bool = False  # the caller was identified as a patient
    facts: JourneyFacts = JourneyFacts()


@dataclass(frozen=True, slots=True)
class RingRecord:
    call_id: str
    operator_id: str
    started_at: datetime
    result: str | None  # a `RingResult` value
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class MissRecord:
    call_id: str
    reason: str  # the ledger's label: a MissReason value, abandoned_in_ivr, fallback_unanswered
    missed_at: datetime
    waited_s: float = 0.0
    line: str | None = None
    task_id: int | None = None
    anonymous: bool = False
    # The call has a `calls` row, whenever it started (a call the router handed to the
    # fallback, started before the period): counted as that call, never as a fallback-only one.
    call_recorded: bool = False

    @property
    def source(self) -> str:
        return "fallback" if self.reason == FALLBACK_MISS else "router"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: int
    state: str  # a `TaskState` value
    created_at: datetime
    first_missed_at: datetime
    due_at: datetime
    miss_count: int = 1
    attempts: int = 0
    line: str | None = None
    first_attempt_at: datetime | None = None  # None: no attempt, or not recorded
    closed_at: datetime | None = None
    close_reason: str | None = None
    worked_by: str | None = None  # the operator of the closing attempt or close by hand


@dataclass(frozen=True, slots=True)
class StateSpan:
    """An operator in one state from `start` to `end` (None: still in it)."""

    operator_id: str
    state: str  # a `Presence` value
    start: datetime
    end: datetime | None = None
    reason: str | None = None  # a pause's reason


def journey_facts(events: Iterable[tuple[datetime, str, Mapping[str, Any]]]) -> JourneyFacts:
    """The report's facts from a call's journey events `(at, kind, data)` in time order.

    Abandoned while ringing: the caller hung up while an operator's phone rang (the ring
    ended `cancelled`); while waiting: after the call first waited for an operator;
    otherwise in the menus (before any wait: greeting, identification, menus).
    """
    queue: str | None = None
    waiting_at = first_ring = None
    fallback = cancelled = abandoned = False
    for at, kind, data in events:
        if kind == "waiting" and waiting_at is None:
            waiting_at, queue = at, _text(data.get("for"))
        elif kind == "ringing" and first_ring is None:
            first_ring = at
        elif kind == "ring_result" and data.get("result") == "cancelled":
            cancelled = True
        elif kind == "fallback":
            fallback = True
        elif kind == "abandoned":
            abandoned = True
    where = abandoned_where(abandoned, cancelled, waiting_at is not None)
    return JourneyFacts(queue, waiting_at, first_ring, fallback, where)


def abandoned_where(abandoned: bool, ring_cancelled: bool, waited: bool) -> AbandonedWhere | None:
    """Where a caller hung up (see `journey_facts`); None: they did not."""
    if not abandoned:
        return None
    return "ringing" if ring_cancelled else "waiting" if waited else "menu"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
