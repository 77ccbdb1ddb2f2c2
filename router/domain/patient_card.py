"""The patient card an operator sees while their phone rings (pure).

Only what the operator needs to greet and help the caller: who (name, age, manager,
tags, next visit, and the others on a shared phone), how they came (line, queue, keys
pressed), and what is open for this number (earlier misses, callback tasks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from router.domain.masking import show_number


@dataclass(frozen=True, slots=True)
class PatientFacts:
    id: str
    name: str
    birth_year: int | None
    manager: str | None  # assigned operator id
    tags: tuple[str, ...]
    visits: tuple[datetime, ...]  # appointments, in time order


@dataclass(frozen=True, slots=True)
class MissFacts:
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class TaskFacts:
    id: int
    reasons: tuple[str, ...]
    due_at: datetime
    attempts: int
    stage: str | None = None  # how far a callback attempt under way got (AttemptStage)


@dataclass(frozen=True, slots=True)
class CardPatient:
    id: str
    name: str
    age: int | None
    manager: str | None
    tags: tuple[str, ...]
    next_visit: datetime | None
    this_call: bool  # the patient the router took the call to be for


@dataclass(frozen=True, slots=True)
class PatientCard:
    call_id: str
    stage: str  # "ringing" or "on_call"
    number: str
    queue: str | None
    line: str | None
    pressed: tuple[str, ...]
    patients: tuple[CardPatient, ...]  # the call's patient first, then the family
    earlier_misses: tuple[MissFacts, ...]
    open_tasks: tuple[TaskFacts, ...]

    @property
    def known(self) -> bool:
        return bool(self.patients)


def build_card(
    *,
    call_id: str,
    stage: str,
    e164: str | None,
    whole_number: bool,
    queue: str | None,
    line: str | None,
    pressed: Sequence[str],
    chosen: str | None,
    patients: Sequence[PatientFacts],
    misses: Sequence[MissFacts],
    tasks: Sequence[TaskFacts],
    now: datetime,
) -> PatientCard:
    people = sorted(
        (_patient(p, chosen, now) for p in patients),
        key=lambda p: (not p.this_call, p.name, p.id),
    )
    return PatientCard(
        call_id,
        stage,
        show_number(e164, whole=whole_number),
        queue,
        line,
        tuple(pressed),
        tuple(people),
        tuple(sorted(misses, key=lambda m: m.at, reverse=True)),
        tuple(tasks),
    )


def _patient(p: PatientFacts, chosen: str | None, now: datetime) -> CardPatient:
    upcoming = [v for v in p.visits if v >= now]
    age = now.year - p.birth_year if p.birth_year else None
    return CardPatient(
        p.id, p.name, age, p.manager, p.tags, min(upcoming, default=None), p.id == chosen
    )
