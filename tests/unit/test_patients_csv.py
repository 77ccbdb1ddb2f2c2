"""The patient CSV format: every column, and every bad row rejected with line and reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from router.storage.models import Appointment, LastContact, PatientRecord
from router.storage.patients_csv import COLUMNS, Rejected, pack, parse_rows, unpack

MSK = ZoneInfo("Europe/Moscow")
HEADER = ",".join(COLUMNS)


def parse(text: str, tz: ZoneInfo = MSK) -> list[PatientRecord | Rejected]:
    return list(parse_rows(text.splitlines(keepends=True), tz=tz, this_year=2026))


def one_row(**values: str) -> str:
    return HEADER + "\n" + ",".join(values.get(c, "") for c in COLUMNS) + "\n"


def test_every_column_is_read() -> None:
    [record] = parse(
        HEADER + "\n"
        "p1,Анна Петрова,8 916 123-45-67;+7 (495) 111-22-33,op7,adults,dms;vip,en,centre,да,"
        "1984,2026-11-20T09:15,op3,dms,booked,"
        '"2026-12-01T10:30|Dr Ivanov|moscow;2026-11-30T08:00+00:00|Др Петрова|khimki"\n'
    )
    assert record == PatientRecord(
        id="p1",
        name="Анна Петрова",
        phones=("+79161234567", "+74951112233"),
        assigned_operator_id="op7",
        team="adults",
        tags=("dms", "vip"),
        language="en",
        preferred_branch="centre",
        do_not_call=True,
        birth_year=1984,
        last_contact=LastContact(datetime(2026, 11, 20, 9, 15, tzinfo=MSK), "op3", "dms", "booked"),
        appointments=(  # in time order: 08:00 UTC is 11:00 in Moscow, after 10:30
            Appointment(datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "Др Петрова", "khimki"),
            Appointment(datetime(2026, 12, 1, 10, 30, tzinfo=MSK), "Dr Ivanov", "moscow"),
        ),
    )


def test_only_id_and_phones_are_needed_and_defaults_apply() -> None:
    [record] = parse("phones,patient_id\n+79161234567,p1\n")
    assert record == PatientRecord(id="p1", name="", phones=("+79161234567",), language="ru")


def test_naive_times_are_local_in_the_given_zone() -> None:
    text = one_row(patient_id="p1", phones="+79161234567", appointments="2026-12-01 10:30")
    [record] = parse(text, tz=ZoneInfo("Asia/Yekaterinburg"))
    assert isinstance(record, PatientRecord)
    assert record.appointments[0].starts_at.astimezone(UTC) == datetime(
        2026, 12, 1, 5, 30, tzinfo=UTC
    )
    [explicit] = parse(
        one_row(patient_id="p1", phones="+79161234567", last_contact_at="2026-12-01T10:30Z")
    )
    assert isinstance(explicit, PatientRecord) and explicit.last_contact is not None
    assert explicit.last_contact.at.utcoffset() == timedelta(0)
    assert explicit.last_contact.at == datetime(2026, 12, 1, 13, 30, tzinfo=MSK)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"phones": "+79161234567"}, "patient_id is empty"),
        ({"patient_id": "x" * 65, "phones": "+79161234567"}, "patient_id is longer than 64"),
        ({"patient_id": "p1"}, "phones: no phone number"),
        ({"patient_id": "p1", "phones": "+79161234567;anonymous"}, "not a phone number"),
        ({"patient_id": "p1", "phones": "+79161234567", "name": "я" * 201}, "name is longer"),
        ({"patient_id": "p1", "phones": "+79161234567", "team": "t" * 65}, "team is longer"),
        ({"patient_id": "p1", "phones": "+79161234567", "birth_year": "84"}, "birth_year"),
        ({"patient_id": "p1", "phones": "+79161234567", "birth_year": "2027"}, "birth_year"),
        ({"patient_id": "p1", "phones": "+79161234567", "birth_year": "１９８４"}, "birth_year"),
        ({"patient_id": "p1", "phones": "+79161234567", "do_not_call": "maybe"}, "do_not_call"),
        (
            {"patient_id": "p1", "phones": "+79161234567", "last_contact_at": "2026-02-30T10:00"},
            "last_contact_at: bad date",
        ),
        (
            {"patient_id": "p1", "phones": "+79161234567", "last_contact_outcome": "booked"},
            "last_contact_at is empty",
        ),
        (
            {"patient_id": "p1", "phones": "+79161234567", "appointments": "2026-12-01"},
            "appointments: bad date",
        ),
        (
            {"patient_id": "p1", "phones": "+79161234567", "appointments": "tomorrow|Dr X"},
            "appointments: bad date",
        ),
        (
            {"patient_id": "p1", "phones": "+79161234567", "appointments": "1926-12-01T10:00"},
            "year outside",
        ),
        (
            {
                "patient_id": "p1",
                "phones": "+79161234567",
                "appointments": "2026-12-01T10:00|a|b|c",
            },
            "more than 3 parts",
        ),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_and_reason(
    values: dict[str, str], reason: str
) -> None:
    good = one_row(patient_id="p0", phones="+79160000000").splitlines()[1]
    text = one_row(**values).replace("\n", f"\n{good}\n", 1)  # the bad row is line 3
    good_record, rejected = parse(text)
    assert isinstance(good_record, PatientRecord) and good_record.id == "p0"
    assert isinstance(rejected, Rejected)
    assert rejected.line == 3
    assert reason in rejected.reason


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("patient_id,phones,nmae", "unknown column(s): nmae"),
        ("patient_id,name", "lacks column(s): phones"),
        ("patient_id,phones,phones", "named twice: phones"),
        ("", "empty file"),
    ],
)
def test_a_bad_header_rejects_the_file(header: str, reason: str) -> None:
    rows = "p1,+79161234567\n" * 3
    [only] = parse(f"{header}\n{rows}" if header else "")
    assert isinstance(only, Rejected) and only.line == 1 and reason in only.reason


def test_extra_fields_blank_lines_and_quoted_newlines() -> None:
    results = parse(
        "patient_id,phones,name\n"
        "\n"
        "p1,+79161234567,Anna,extra\n"  # line 3: an unquoted comma shifted the fields
        'p2,+79161234568,"two\nlines"\n'  # lines 4-5
        "p3,+79161234569\n"  # a short row: missing fields are empty
    )
    assert results[0] == Rejected(
        3, "4 fields but the header has 3 (an unquoted comma in a value?)"
    )
    assert isinstance(results[1], PatientRecord) and results[1].name == "two\nlines"
    assert isinstance(results[2], PatientRecord) and results[2].id == "p3"


def test_records_survive_the_trip_from_a_worker_process() -> None:
    [record] = parse(
        one_row(
            patient_id="p1",
            phones="+79161234567",
            birth_year="1984",
            last_contact_at="2026-11-20T09:15",
            last_contact_outcome="booked",
            appointments="2026-12-01T10:30|Dr Ivanov|moscow;2026-12-02T10:30",
        )
    )
    assert isinstance(record, PatientRecord)
    assert unpack(pack(record)) == record
    assert unpack(Rejected(3, "why")) == Rejected(3, "why")
