"""Patients by phone and by id, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from storage_support import BACKENDS, migrated_store

from router.storage import Appointment, LastContact, PatientRecord, PatientRepository, Store

MSK = timezone(timedelta(hours=3))
HOSTILE = 'O\'Brien "Bob"; DROP TABLE patients; -- 🩺 \ufffd'


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def patient(pid: str, *phones: str, **fields: Any) -> PatientRecord:
    return replace(PatientRecord(id=pid, name=f"Patient {pid}", phones=phones), **fields)


async def test_unknown_phone_and_id_find_nothing(store: Store) -> None:
    assert await store.patients.find_by_phone("+79160000000") == []
    assert await store.patients.get("nobody") is None


async def test_a_shared_phone_finds_every_patient_on_it(store: Store) -> None:
    mother = patient(
        "p1",
        "+79161234567",
        "+74951234567",
        assigned_operator_id="op1",
        team="adults",
        tags=("vip", "dms"),
        language="ru",
        preferred_branch="centre",
    )
    child = patient("p2", "+79161234567", team="children", do_not_call=True)
    other = patient("p3", "+79169999999")
    assert await store.patients.upsert([child, mother, other]) == 3

    assert await store.patients.find_by_phone("+79161234567") == [mother, child]
    assert await store.patients.find_by_phone("+74951234567") == [mother]
    assert await store.patients.get("p2") == child


async def test_upsert_replaces_fields_and_phones(store: Store) -> None:
    await store.patients.upsert([patient("p1", "+79161234567", "+79160000001", tags=("a",))])
    updated = PatientRecord(
        id="p1",
        name="Renamed",
        phones=("+79160000002", "+79161234567"),  # new order: the new number first
        assigned_operator_id="op2",
        tags=("b", "c"),
    )
    await store.patients.upsert([updated])

    assert await store.patients.get("p1") == updated
    assert await store.patients.find_by_phone("+79160000001") == []
    assert await store.patients.find_by_phone("+79160000002") == [updated]


async def test_upsert_can_drop_every_phone(store: Store) -> None:
    await store.patients.upsert([patient("p1", "+79161234567")])
    await store.patients.upsert([patient("p1")])
    assert await store.patients.get("p1") == patient("p1")
    assert await store.patients.find_by_phone("+79161234567") == []


async def test_last_record_wins_and_repeated_phones_collapse(store: Store) -> None:
    written = await store.patients.upsert(
        [patient("p1", "+79161234567"), patient("p1", "+79160000001", "+79160000001")]
    )
    assert written == 1
    assert await store.patients.get("p1") == patient("p1", "+79160000001")


async def test_upsert_in_batches_across_commits(store: Store) -> None:
    small_batches = PatientRepository(store.db, batch_size=2)
    records = [patient(f"p{i}", "+7916000000" + str(i)) for i in range(5)]
    assert await small_batches.upsert(records) == 5
    for record in records:
        assert await store.patients.get(record.id) == record


@pytest.mark.parametrize("bad", ["89161234567", "+7 916 123-45-67", "", "+0123", "anonymous"])
async def test_a_phone_not_in_e164_is_refused_before_any_write(store: Store, bad: str) -> None:
    with pytest.raises(ValueError, match="p2"):
        await store.patients.upsert([patient("p1", "+79161234567"), patient("p2", bad)])
    assert await store.patients.get("p1") is None


async def test_hostile_text_round_trips(store: Store) -> None:
    record = PatientRecord(
        id="id-'; DROP TABLE patients; --",
        name=HOSTILE,
        phones=("+79161234567",),
        team="x" * 80,
        tags=(HOSTILE, "тег", "😀"),
        language="ru",
    )
    await store.patients.upsert([record])
    assert await store.patients.get(record.id) == record
    assert await store.patients.find_by_phone("+79161234567") == [record]


async def test_unstorable_characters_become_replacement_characters(store: Store) -> None:
    # NUL is refused by PostgreSQL and lone surrogates by both drivers: stored as U+FFFD.
    await store.patients.upsert([patient("p1", name="a\x00b\udcffc", tags=("\x00",))])
    found = await store.patients.get("p1")
    assert found is not None
    assert (found.name, found.tags) == ("a\ufffdb\ufffdc", ("\ufffd",))


async def test_a_large_import_refreshes_postgresql_statistics(store: Store) -> None:
    if store.db.dialect_name != "postgresql":
        pytest.skip("planner statistics: PostgreSQL only")
    await store.patients.upsert([patient(f"p{i}", f"+7916{i:07d}") for i in range(1500)])
    async with store.db.connect() as conn:
        estimated = await conn.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = 'patient_phones'")
        )
        assert estimated.scalar() == 1500


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=MSK)


def with_profile(pid: str, *phones: str) -> PatientRecord:
    return patient(
        pid,
        *phones,
        birth_year=1984,
        last_contact=LastContact(at(1, 9, 15), "op7", "dms", "booked"),
        appointments=(
            Appointment(at(3, 10, 30), "Dr Ivanov", "moscow"),
            Appointment(at(2, 18), None, None),
            Appointment(at(5, 8), "Др Петрова", "khimki"),
        ),
    )


async def test_profile_round_trips_with_appointments_in_time_order(store: Store) -> None:
    record = with_profile("p1", "+79161234567", "+74951234567")
    await store.patients.upsert([record])

    found = await store.patients.get("p1")
    assert found is not None
    assert found.birth_year == 1984
    assert found.last_contact == LastContact(at(1, 9, 15), "op7", "dms", "booked")
    assert found.last_contact.at.tzinfo == UTC  # read back in UTC, the same instant
    assert [a.starts_at for a in found.appointments] == [at(2, 18), at(3, 10, 30), at(5, 8)]
    assert found.appointments[1] == Appointment(at(3, 10, 30), "Dr Ivanov", "moscow")
    assert found.phones == ("+79161234567", "+74951234567")  # not multiplied by the visits
    assert found == replace(record, appointments=tuple(sorted(record.appointments, key=_start)))


def _start(appointment: Appointment) -> datetime:
    return appointment.starts_at


async def test_a_shared_phone_gives_each_patient_its_own_appointments(store: Store) -> None:
    parent = with_profile("p1", "+79161234567")
    child = patient("p2", "+79161234567", birth_year=2018, appointments=(Appointment(at(4, 9)),))
    await store.patients.upsert([parent, child])

    found = await store.patients.find_by_phone("+79161234567")
    assert [(p.id, p.birth_year, len(p.appointments)) for p in found] == [
        ("p1", 1984, 3),
        ("p2", 2018, 1),
    ]
    assert found[1].last_contact is None


async def test_upsert_replaces_appointments_and_clears_last_contact(store: Store) -> None:
    await store.patients.upsert([with_profile("p1", "+79161234567")])
    moved = (Appointment(at(9, 12), "Dr Sidorov", "centre"),)
    await store.patients.upsert([patient("p1", "+79161234567", appointments=moved)])
    found = await store.patients.get("p1")
    assert found is not None
    assert (found.appointments, found.last_contact, found.birth_year) == (moved, None, None)

    await store.patients.upsert([patient("p1", "+79161234567")])
    assert await store.patients.get("p1") == patient("p1", "+79161234567")
    async with store.db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM appointments"))).scalar() == 0


async def test_deleting_a_patient_deletes_its_appointments(store: Store) -> None:
    await store.patients.upsert([with_profile("p1", "+79161234567"), with_profile("p2")])
    async with store.db.begin() as conn:
        await conn.execute(text("DELETE FROM patients WHERE id = 'p1'"))
    async with store.db.connect() as conn:
        owners = await conn.execute(text("SELECT DISTINCT patient_id FROM appointments"))
        assert [row[0] for row in owners] == ["p2"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"appointments": (Appointment(datetime(2026, 12, 1, 10)),)}, "naive"),
        ({"last_contact": LastContact(datetime(2026, 12, 1, 10))}, "naive"),
        ({"birth_year": 99999}, "birth year"),
    ],
)
async def test_a_bad_profile_is_refused_before_any_write(
    store: Store, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"'p2'.*{message}"):
        await store.patients.upsert([patient("p1"), patient("p2", **fields)])
    assert await store.patients.get("p1") is None
