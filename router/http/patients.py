"""`GET /api/patients?phone=...`: every patient on a phone number, with the full profile.

`profile_json` is also what `clinic-router patients show --json` prints: one shape for
both, so a script can switch between the command line and the API.
"""

from __future__ import annotations

from typing import Any

from router.domain.phone import normalise_caller
from router.http.errors import ApiError
from router.storage.models import PatientRecord


def profile_json(record: PatientRecord) -> dict[str, Any]:
    """A patient as JSON-ready values; date-times are aware `datetime`s (UTC)."""
    contact = record.last_contact
    return {
        "id": record.id,
        "name": record.name,
        "phones": list(record.phones),
        "birth_year": record.birth_year,
        "assigned_operator": record.assigned_operator_id,
        "team": record.team,
        "tags": list(record.tags),
        "language": record.language,
        "preferred_branch": record.preferred_branch,
        "do_not_call": record.do_not_call,
        "last_contact": None
        if contact is None
        else {
            "at": contact.at,
            "operator": contact.operator_id,
            "category": contact.category,
            "outcome": contact.outcome,
        },
        "appointments": [
            {"starts_at": a.starts_at, "doctor": a.doctor, "branch": a.branch}
            for a in record.appointments
        ],
    }


def phone_json(e164: str, records: list[PatientRecord]) -> dict[str, Any]:
    return {"phone": e164, "patients": [profile_json(r) for r in records]}


def parse_phone(raw: str | None) -> str:
    """The E.164 form of a `phone` parameter, or a 400 `bad_phone`."""
    if not raw:
        raise ApiError(400, "bad_phone", "the phone parameter is required (?phone=+79161234567)")
    number = normalise_caller(raw)
    if number.e164 is None:
        raise ApiError(
            400,
            "bad_phone",
            f"not a phone number: {number.raw!r}",
            {"reason": number.status.value},
        )
    return number.e164
