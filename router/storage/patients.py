"""Patients and their phone numbers: looked up by the caller's number on every call."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, text

from router.storage.db import Database
from router.storage.models import PatientRecord
from router.storage.tables import dialect_insert, patient_phones, patients

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_ANALYZE_AFTER = 1_000  # rows; smaller imports barely move the statistics
_ANALYZE_SHARE = 0.2  # of the rows the statistics know (cf. autovacuum_analyze_scale_factor)
# reltuples: the planner's row estimate, -1 before the first ANALYZE (PostgreSQL 14+).
_ESTIMATED_ROWS = text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)")
_UPSERTED = (
    "name",
    "assigned_operator_id",
    "team",
    "tags",
    "language",
    "preferred_branch",
    "do_not_call",
    "updated_at",
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PatientRepository:
    """Patients by id and by phone. Several patients may share one phone (a family line)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = _utcnow,
        batch_size: int = 500,
    ) -> None:
        self._db = db
        self._clock = clock
        self._batch_size = batch_size

    async def find_by_phone(self, e164: str) -> list[PatientRecord]:
        """Every patient with this number, by id; empty when the number is unknown."""
        holders = select(patient_phones.c.patient_id).where(patient_phones.c.phone == e164)
        return await self._load(patients.c.id.in_(holders))

    async def get(self, patient_id: str) -> PatientRecord | None:
        found = await self._load(patients.c.id == patient_id)
        return found[0] if found else None

    async def upsert(self, records: Sequence[PatientRecord]) -> int:
        """Insert or replace patients by id, with their phones; returns how many were written.

        Every record is checked before anything is written (a bad phone raises
        `ValueError` naming the patient). When one id appears twice the last one wins.
        Batches of `batch_size` are committed one by one: on SQLite a single transaction
        over a 100k-patient import would hold the write lock for seconds and stall every
        call's journey writes. Re-running a failed import is safe (it is an upsert).
        """
        latest = {record.id: _checked(record) for record in records}
        now = self._clock()
        for chunk in _batches(list(latest.values()), self._batch_size):
            async with self._db.begin() as conn:
                await conn.execute(self._upsert_statement(), [_patient_row(r, now) for r in chunk])
                await conn.execute(
                    delete(patient_phones).where(
                        patient_phones.c.patient_id.in_([r.id for r in chunk])
                    )
                )
                phone_rows = [
                    {"phone": phone, "patient_id": r.id, "position": position}
                    for r in chunk
                    for position, phone in enumerate(r.phones)
                ]
                if phone_rows:
                    await conn.execute(insert(patient_phones), phone_rows)
        if self._db.dialect_name == "postgresql" and len(latest) >= _ANALYZE_AFTER:
            await self._refresh_statistics(len(latest))
        return len(latest)

    async def _refresh_statistics(self, written: int) -> None:
        # Until autovacuum catches up (a minute or more), the planner's statistics predate
        # the import and it picks sequential scans: measured 24 ms instead of 1.5 ms per
        # lookup by phone after a 100k import. ANALYZE samples a bounded number of rows
        # (~0.1 s), but an import made of many upsert() calls need not pay it every time:
        # only when this write is large next to what the statistics already describe.
        async with self._db.begin() as conn:
            known = (await conn.execute(_ESTIMATED_ROWS, {"table": "patients"})).scalar()
            if known is None or known < 0 or written >= _ANALYZE_SHARE * known:
                await conn.execute(text("ANALYZE patients, patient_phones"))

    def _upsert_statement(self) -> Any:
        stmt = dialect_insert(self._db.dialect_name, patients)
        return stmt.on_conflict_do_update(
            index_elements=[patients.c.id],
            set_={name: stmt.excluded[name] for name in _UPSERTED},
        )

    async def _load(self, where: ColumnElement[bool]) -> list[PatientRecord]:
        # One statement for the patients and all their phones: one round trip on the
        # call path, and a consistent view even while an import replaces phones.
        stmt = (
            select(patients, patient_phones.c.phone)
            .outerjoin(patient_phones, patient_phones.c.patient_id == patients.c.id)
            .where(where)
            .order_by(patients.c.id, patient_phones.c.position)
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        found: dict[str, tuple[Any, list[str]]] = {}  # insertion-ordered: by id
        for row in rows:
            _, phones = found.setdefault(row.id, (row._mapping, []))
            if row.phone is not None:
                phones.append(row.phone)
        return [_record(row, tuple(phones)) for row, phones in found.values()]


def _checked(record: PatientRecord) -> PatientRecord:
    if not record.id:
        raise ValueError("patient with an empty id")
    for phone in record.phones:
        if not _E164.match(phone):
            raise ValueError(
                f"patient {record.id!r}: phone {phone!r} is not E.164 ('+' and 2-15 digits)"
            )
    unique = tuple(dict.fromkeys(record.phones))  # the same number twice adds nothing
    return record if unique == record.phones else replace(record, phones=unique)


def _patient_row(record: PatientRecord, now: datetime) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name,
        "assigned_operator_id": record.assigned_operator_id,
        "team": record.team,
        "tags": list(record.tags),
        "language": record.language,
        "preferred_branch": record.preferred_branch,
        "do_not_call": record.do_not_call,
        "updated_at": now,
    }


def _record(row: Any, phones: tuple[str, ...]) -> PatientRecord:
    return PatientRecord(
        id=row["id"],
        name=row["name"],
        phones=phones,
        assigned_operator_id=row["assigned_operator_id"],
        team=row["team"],
        tags=tuple(row["tags"]),
        language=row["language"],
        preferred_branch=row["preferred_branch"],
        do_not_call=bool(row["do_not_call"]),
    )


def _batches(items: list[PatientRecord], size: int) -> Iterator[list[PatientRecord]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
