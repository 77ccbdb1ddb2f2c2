"""Turning a CRM's JSON answer into patient records, by a configured field mapping.

CRM answers are untrusted: any shape may come back. Nothing here raises on odd data;
a record without an id or with no usable field is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.domain.phone import normalise_caller
from router.storage.models import PatientRecord

MAX_TEXT = 200


def pick(data: Any, path: str) -> Any:
    """Follow a dotted path (`manager.login`, `items.0.id`) into JSON; None if absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        text = str(value).strip()[:MAX_TEXT]
        return text or None
    return None


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", ";").split(";")]
    if not isinstance(value, list):
        return ()
    return tuple(t for t in (_text(v) for v in value[:50]) if t)


def records_from_answer(
    answer: Any, phone: str, fields: Mapping[str, str], list_path: str | None
) -> list[PatientRecord]:
    """Patients in a CRM answer. `phone` (E.164) is added to every record's phones."""
    items = pick(answer, list_path) if list_path else answer
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        return []
    records = []
    for item in items[:20]:
        if not isinstance(item, Mapping):
            continue
        patient_id = _text(pick(item, fields.get("patient_id", "id")))
        if patient_id is None:
            continue
        phones = [phone]
        for raw in _texts(pick(item, fields["phones"])) if "phones" in fields else ():
            number = normalise_caller(raw)
            if number.e164 and number.e164 not in phones:
                phones.append(number.e164)
        records.append(
            PatientRecord(
                id=patient_id,
                name=_text(pick(item, fields.get("name", "name"))) or "",
                phones=tuple(phones),
                assigned_operator_id=_text(pick(item, fields.get("assigned_operator", "manager"))),
                team=_text(pick(item, fields.get("team", "team"))),
                tags=_texts(pick(item, fields.get("tags", "tags"))),
                language=_text(pick(item, fields.get("language", "language"))),
                preferred_branch=_text(pick(item, fields.get("preferred_branch", "branch"))),
                do_not_call=pick(item, fields.get("do_not_call", "do_not_call")) is True,
            )
        )
    return records
