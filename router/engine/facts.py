"""What route conditions see of a call: the line, the patient record, the time.

Shared by the engine and `clinic-router simulate`, so both decide from the same facts.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from router.config.rules import Rules
from router.config.rules_build import Line
from router.domain.routing import CallerFacts
from router.storage.models import PatientRecord

DEFAULT_ZONE = "Europe/Moscow"


def zone_of(rules: Rules, line: Line | None) -> ZoneInfo:
    """The time zone of the line's calendar (appointments are local dates there)."""
    calendar = rules.calendars.get(line.calendar or "") if line else None
    return ZoneInfo(calendar.timezone if calendar else DEFAULT_ZONE)


def booked_dates(record: PatientRecord | None, zone: ZoneInfo) -> tuple[date, ...]:
    """Local dates of the patient's booked visits (what `appointment:` conditions test)."""
    visits = record.appointments if record else ()
    return tuple(v.starts_at.astimezone(zone).date() for v in visits)


def visit_soon(record: PatientRecord | None, now: datetime, zone: ZoneInfo) -> datetime | None:
    """The patient's first visit later today or tomorrow, in local time (what a menu reads
    out: "about your appointment tomorrow at 10:30")."""
    local = now.astimezone(zone)
    for visit in record.appointments if record else ():
        at = visit.starts_at.astimezone(zone)
        if at >= local and (at.date() - local.date()).days in (0, 1):
            return at
    return None


def caller_facts(
    rules: Rules,
    line: Line | None,
    record: PatientRecord | None,
    now: datetime,
    extra_appointments: tuple[date, ...] = (),
) -> CallerFacts:
    zone = zone_of(rules, line)
    local = now.astimezone(zone)
    default_language = line.language if line else "ru"
    return CallerFacts(
        now=local,
        line=line.id if line else None,
        branch=line.branch if line else None,
        calendar=line.calendar if line else None,
        known=record is not None,
        tags=frozenset(record.tags) if record else frozenset(),
        assigned_operator=record.assigned_operator_id if record else None,
        language=(record.language if record and record.language else default_language),
        appointments=extra_appointments + booked_dates(record, zone),
    )


def family_record(records: list[PatientRecord]) -> PatientRecord:
    """Several patients share the phone and the caller did not say which: treat the call
    as the family's, assuming only what holds for every one of them (tags, manager,
    language) and any appointment of any of them (the likely reason to call)."""
    first = records[0]
    tags = set(first.tags)
    for record in records[1:]:
        tags &= set(record.tags)

    def common(values: list[str | None]) -> str | None:
        return values[0] if len(set(values)) == 1 else None

    visits = sorted((v for r in records for v in r.appointments), key=lambda v: v.starts_at)
    return PatientRecord(
        id="family",
        name="family",
        phones=first.phones,
        assigned_operator_id=common([r.assigned_operator_id for r in records]),
        team=common([r.team for r in records]),
        tags=tuple(sorted(tags)),
        language=common([r.language for r in records]),
        appointments=tuple(visits),
    )
