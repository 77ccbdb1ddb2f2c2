"""Patients and their phone numbers: looked up by the caller's number on every call."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    bindparam,
    delete,
    insert,
    literal_column,
    null,
    select,
    text,
)
from sqlalchemy import type_coerce as typed
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.phone import is_e164
from router.storage.db import Database
from router.storage.models import Appointment, LastContact, PatientRecord
from router.storage.tables import appointments, dialect_insert, patient_phones, patients
from router.storage.types import SafeText, UtcDateTime

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
    "birth_year",
    "last_contact_at",
    "last_contact_operator_id",
    "last_contact_category",
    "last_contact_outcome",
)
_PHONE, _VISIT = 0, 1  # the kinds of detail rows `_load` reads with each patient
Matches = Callable[[ColumnElement[str]], ColumnElement[bool]]  # a filter on a patient id


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
        return await self._load(_BY_PHONE, {"phone": e164})

    async def get(self, patient_id: str) -> PatientRecord | None:
        found = await self._load(_BY_ID, {"patient_id": patient_id})
        return found[0] if found else None

    async def upsert(self, records: Sequence[PatientRecord]) -> int:
        """Insert or replace patients by id, with their phones and appointments (both
        replaced whole); returns how many were written.

        Every record is checked before anything is written (a bad phone, a naive datetime
        or an impossible birth year raises `ValueError` naming the patient). When one id
        appears twice the last one wins.
        Batches of `batch_size` are committed one by one: on SQLite a single transaction
        over a 100k-patient import would hold the write lock for seconds and stall every
        call's journey writes. Re-running a failed import is safe (it is an upsert).
        """
        latest = {record.id: _checked(record) for record in records}
        now = self._clock()
        for chunk in _batches(list(latest.values()), self._batch_size):
            async with self._db.begin() as conn:
                await self._write(conn, chunk, now)
        if self._db.dialect_name == "postgresql" and len(latest) >= _ANALYZE_AFTER:
            await self._refresh_statistics(len(latest))
        return len(latest)

    async def _write(
        self, conn: AsyncConnection, chunk: list[PatientRecord], now: datetime
    ) -> None:
        await conn.execute(self._upsert_statement(), [_patient_row(r, now) for r in chunk])
        ids = [r.id for r in chunk]
        await conn.execute(delete(patient_phones).where(patient_phones.c.patient_id.in_(ids)))
        await conn.execute(delete(appointments).where(appointments.c.patient_id.in_(ids)))
        phone_rows = [
            {"phone": phone, "patient_id": r.id, "position": position}
            for r in chunk
            for position, phone in enumerate(r.phones)
        ]
        if phone_rows:
            await conn.execute(insert(patient_phones), phone_rows)
        visit_rows = [
            {"patient_id": r.id, "starts_at": a.starts_at, "doctor": a.doctor, "branch": a.branch}
            for r in chunk
            for a in r.appointments
        ]
        if visit_rows:
            await conn.execute(insert(appointments), visit_rows)

    async def _refresh_statistics(self, written: int) -> None:
        # Until autovacuum catches up (a minute or more), the planner's statistics predate
        # the import and it picks sequential scans: measured 24 ms instead of 1.5 ms per
        # lookup by phone after a 100k import. ANALYZE samples a bounded number of rows
        # (~0.1 s), but an import made of many upsert() calls need not pay it every time:
        # only when this write is large next to what the statistics already describe.
        async with self._db.begin() as conn:
            known = (await conn.execute(_ESTIMATED_ROWS, {"table": "patients"})).scalar()
            if known is None or known < 0 or written >= _ANALYZE_SHARE * known:
                await conn.execute(text("ANALYZE patients, patient_phones, appointments"))

    def _upsert_statement(self) -> Any:
        stmt = dialect_insert(self._db.dialect_name, patients)
        return stmt.on_conflict_do_update(
            index_elements=[patients.c.id],
            set_={name: stmt.excluded[name] for name in _UPSERTED},
        )

    async def _load(self, stmt: Any, params: dict[str, str]) -> list[PatientRecord]:
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt, params)).all()
        found: dict[str, tuple[Any, list[str], list[Appointment]]] = {}  # ordered by id
        for row in rows:
            _, phone_list, visit_list = found.setdefault(row.id, (row._mapping, [], []))
            if row.kind == _PHONE:
                phone_list.append(row.a)
            elif row.kind == _VISIT:
                visit_list.append(Appointment(starts_at=row.at, doctor=row.a, branch=row.b))
        return [_record(row, tuple(p), tuple(v)) for row, p, v in found.values()]


def _patients_where(matches: Matches) -> Any:
    """The patients `matches` selects, with all their phones and appointments.

    One statement: one round trip on the call path, and a consistent view even while an
    import replaces them (READ COMMITTED gives each statement, not each connection, its
    snapshot). Phones and appointments come as one UNION ALL of detail rows (not two
    joins, which would multiply them); each branch is filtered by the patient first so
    that SQLite never materialises more than this caller's rows.
    """
    visits = select(
        appointments.c.patient_id.label("owner"),
        literal_column(str(_VISIT), Integer).label("kind"),
        appointments.c.id.label("ord"),
        appointments.c.doctor.label("a"),
        appointments.c.branch.label("b"),
        appointments.c.starts_at.label("at"),
    ).where(matches(appointments.c.patient_id))
    phones = select(
        patient_phones.c.patient_id,
        literal_column(str(_PHONE), Integer),
        patient_phones.c.position,
        patient_phones.c.phone,
        typed(null(), SafeText),
        typed(null(), UtcDateTime),
    ).where(matches(patient_phones.c.patient_id))
    detail = visits.union_all(phones).subquery()  # column types: from `visits`
    return (
        select(patients, detail.c.kind, detail.c.a, detail.c.b, detail.c.at)
        .outerjoin(detail, detail.c.owner == patients.c.id)
        .where(matches(patients.c.id))
        .order_by(patients.c.id, detail.c.kind, detail.c.at, detail.c.ord)
    )


# Built once: building this statement and its cache key per call cost more CPU than
# running it (profiled under load); the same object is then found in the compiled cache.
_HOLDERS = select(patient_phones.c.patient_id).where(patient_phones.c.phone == bindparam("phone"))
_BY_PHONE = _patients_where(lambda column: column.in_(_HOLDERS))
_BY_ID = _patients_where(lambda column: column == bindparam("patient_id"))


def _checked(record: PatientRecord) -> PatientRecord:
    if not record.id:
        raise ValueError("patient with an empty id")
    for phone in record.phones:
        if not is_e164(phone):
            raise ValueError(
                f"patient {record.id!r}: phone {phone!r} is not E.164 ('+' and 2-15 digits)"
            )
    if record.birth_year is not None and not 1000 <= record.birth_year <= 9999:
        raise ValueError(f"patient {record.id!r}: birth year {record.birth_year} is impossible")
    moments = [a.starts_at for a in record.appointments]
    if record.last_contact is not None:
        moments.append(record.last_contact.at)
    for moment in moments:
        if moment.utcoffset() is None:
            raise ValueError(f"patient {record.id!r}: naive datetime {moment.isoformat()}")
    unique = tuple(dict.fromkeys(record.phones))  # the same number twice adds nothing
    in_order = tuple(sorted(record.appointments, key=lambda a: a.starts_at))
    if unique == record.phones and in_order == record.appointments:
        return record
    return replace(record, phones=unique, appointments=in_order)


def _patient_row(record: PatientRecord, now: datetime) -> dict[str, object]:
    contact = record.last_contact
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
        "birth_year": record.birth_year,
        "last_contact_at": contact.at if contact else None,
        "last_contact_operator_id": contact.operator_id if contact else None,
        "last_contact_category": contact.category if contact else None,
        "last_contact_outcome": contact.outcome if contact else None,
    }


def _record(row: Any, phones: tuple[str, ...], visits: tuple[Appointment, ...]) -> PatientRecord:
    contact_at = row["last_contact_at"]
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
        birth_year=row["birth_year"],
        last_contact=None
        if contact_at is None
        else LastContact(
            at=contact_at,
            operator_id=row["last_contact_operator_id"],
            category=row["last_contact_category"],
            outcome=row["last_contact_outcome"],
        ),
        appointments=visits,
    )


def _batches(items: list[PatientRecord], size: int) -> Iterator[list[PatientRecord]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
