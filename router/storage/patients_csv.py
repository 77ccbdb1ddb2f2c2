"""The patient CSV format: rows in, `PatientRecord`s or rejections (with line and reason) out.

Streaming: one row at a time, whatever the file's size. Documented in docs/patients.md;
only `patient_id` and `phones` are mandatory, a header row is required, and a column
this module does not know fails the header (a typo must not silently drop a field).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from router.domain.phone import normalise_caller
from router.storage.models import Appointment, LastContact, PatientRecord

COLUMNS = (
    "patient_id",
    "name",
    "phones",
    "assigned_operator",
    "team",
    "tags",
    "language",
    "preferred_branch",
    "do_not_call",
    "birth_year",
    "last_contact_at",
    "last_contact_operator",
    "last_contact_category",
    "last_contact_outcome",
    "appointments",
)
REQUIRED = ("patient_id", "phones")
DEFAULT_TZ = "Europe/Moscow"
# Longest value accepted per column (characters); longer is a rejected row, not a cut one.
MAX_LENGTH = {"patient_id": 64, "name": 200, "appointments": 4000, "phones": 400, "tags": 1000}
DEFAULT_MAX_LENGTH = 64  # operators, teams, branches, categories, outcomes, language
MAX_DOCTOR = 100
MAX_LIST = 20  # phones per patient; also appointments per patient (tags: 50)
MAX_TAGS = 50
TRUE = frozenset({"1", "true", "yes", "y", "да"})
FALSE = frozenset({"", "0", "false", "no", "n", "нет"})
OLDEST_BIRTH_YEAR = 1900
PLAUSIBLE_YEARS = range(2000, 2101)  # appointments and contacts outside these are typos


@dataclass(frozen=True)
class Rejected:
    """A row (or the header, line 1) that was not imported, and why."""

    line: int
    reason: str


class BadValue(ValueError):
    """A value in a row is wrong; the message is the rejection's reason."""


def parse_rows(
    lines: Iterable[str], *, tz: tzinfo | None = None, this_year: int | None = None
) -> Iterator[PatientRecord | Rejected]:
    """Parse CSV lines into records or rejections; never raises on bad rows.

    Date-times without an offset are local time in `tz` (default Europe/Moscow). A bad
    header yields one rejection for line 1 and nothing else. Line numbers are those of
    the row's last line (a quoted field may span several).
    """
    tz = tz or ZoneInfo(DEFAULT_TZ)
    year = this_year if this_year is not None else datetime.now(tz).year
    reader = csv.reader(lines)
    header = read_header(reader)
    if isinstance(header, Rejected):
        yield header
        return
    for line, values in raw_rows(reader):
        parsed = parse_values(header, values, line, tz, year)
        if parsed is not None:
            yield parsed


def read_header(reader: Iterator[list[str]]) -> list[str] | Rejected:
    """The column names of a `csv.reader`'s first row, or why the file is unusable."""
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return Rejected(1, "empty file: a header row is required")
    except csv.Error as exc:
        return Rejected(1, f"unreadable CSV: {exc}")
    problem = _header_problem(header)
    return Rejected(1, problem) if problem else header


def raw_rows(reader: Any) -> Iterator[tuple[int, list[str] | Rejected]]:
    """`(line, fields)` for each row after the header; a row the CSV reader cannot
    split comes as `(line, Rejected)` and reading goes on."""
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, Rejected(reader.line_num, f"unreadable CSV: {exc}")
            continue
        yield reader.line_num, values


def parse_values(
    header: list[str], values: list[str] | Rejected, line: int, tz: tzinfo, year: int
) -> PatientRecord | Rejected | None:
    """One row's fields as a record or a rejection; None for a blank line."""
    if isinstance(values, Rejected):
        return values
    if not any(v.strip() for v in values):
        return None
    if len(values) > len(header):
        return Rejected(
            line,
            f"{len(values)} fields but the header has {len(header)} "
            "(an unquoted comma in a value?)",
        )
    row = dict(zip(header, (v.strip() for v in values), strict=False))
    try:
        return _record(row, tz, year)
    except BadValue as exc:
        return Rejected(line, str(exc))


def parse_chunk(
    header: list[str], rows: list[tuple[int, list[str] | Rejected]], tz: tzinfo, year: int
) -> list[PatientRecord | Rejected]:
    """`parse_values` over many rows."""
    parsed = (parse_values(header, values, line, tz, year) for line, values in rows)
    return [item for item in parsed if item is not None]


Packed = tuple[Any, ...]


def parse_chunk_packed(
    header: list[str], rows: list[tuple[int, list[str] | Rejected]], tz: tzinfo, year: int
) -> list[Packed | Rejected]:
    """`parse_chunk` for an import's worker process: records come back as plain tuples
    (`unpack` rebuilds them), which pickle ten times faster than frozen dataclasses with
    zoned date-times: measured 0.5 s of unpickling per 20,000 records otherwise, as much
    as the writer's own work."""
    return [
        item if isinstance(item, Rejected) else pack(item)
        for item in parse_chunk(header, rows, tz, year)
    ]


def pack(r: PatientRecord) -> Packed:
    contact = r.last_contact
    return (
        *(r.id, r.name, r.phones, r.assigned_operator_id, r.team, r.tags, r.language),
        *(r.preferred_branch, r.do_not_call, r.birth_year),
        None
        if contact is None
        else (contact.at.astimezone(UTC), contact.operator_id, contact.category, contact.outcome),
        tuple((a.starts_at.astimezone(UTC), a.doctor, a.branch) for a in r.appointments),
    )


def unpack(packed: Packed | Rejected) -> PatientRecord | Rejected:
    if isinstance(packed, Rejected):
        return packed
    pid, name, phones, operator, team, tags, language, branch, dnc, year, contact, visits = packed
    return PatientRecord(
        id=pid,
        name=name,
        phones=phones,
        assigned_operator_id=operator,
        team=team,
        tags=tags,
        language=language,
        preferred_branch=branch,
        do_not_call=dnc,
        birth_year=year,
        last_contact=None if contact is None else LastContact(*contact),
        appointments=tuple(Appointment(*visit) for visit in visits),
    )


def _header_problem(header: list[str]) -> str | None:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        return f"column(s) named twice: {', '.join(duplicates)}"
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        return f"unknown column(s): {', '.join(unknown)} (known: {', '.join(COLUMNS)})"
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        return f"header lacks column(s): {', '.join(missing)}"
    return None


def _record(row: dict[str, str], tz: tzinfo, year: int) -> PatientRecord:
    for column, value in row.items():
        limit = MAX_LENGTH.get(column, DEFAULT_MAX_LENGTH)
        if len(value) > limit:
            raise BadValue(f"{column} is longer than {limit} characters")
    patient_id = row.get("patient_id", "")
    if not patient_id:
        raise BadValue("patient_id is empty")
    return PatientRecord(
        id=patient_id,
        name=row.get("name", ""),
        phones=_phones(row.get("phones", "")),
        assigned_operator_id=row.get("assigned_operator") or None,
        team=row.get("team") or None,
        tags=_tags(row.get("tags", "")),
        language=row.get("language") or "ru",
        preferred_branch=row.get("preferred_branch") or None,
        do_not_call=_flag(row.get("do_not_call", "")),
        birth_year=_birth_year(row.get("birth_year", ""), year),
        last_contact=_last_contact(row, tz),
        appointments=_appointments(row.get("appointments", ""), tz),
    )


def _phones(text: str) -> tuple[str, ...]:
    phones, bad = [], []
    for raw in _split(text):
        number = normalise_caller(raw)
        if number.e164:
            phones.append(number.e164)
        else:
            bad.append(raw)
    if bad:  # one bad number in a list is a typo to fix, not a number to drop silently
        raise BadValue(f"phones: not a phone number: {';'.join(bad)!r}")
    if not phones:
        raise BadValue("phones: no phone number")
    unique = tuple(dict.fromkeys(phones))
    if len(unique) > MAX_LIST:
        raise BadValue(f"phones: more than {MAX_LIST} numbers")
    return unique


def _tags(text: str) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(_split(text)))
    if len(tags) > MAX_TAGS:
        raise BadValue(f"tags: more than {MAX_TAGS}")
    if any(len(tag) > DEFAULT_MAX_LENGTH for tag in tags):
        raise BadValue(f"tags: a tag is longer than {DEFAULT_MAX_LENGTH} characters")
    return tags


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise BadValue(f"do_not_call: {text!r} is not yes/no (1/0, true/false, да/нет)")


def _birth_year(text: str, this_year: int) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not (OLDEST_BIRTH_YEAR <= int(text) <= this_year):
        raise BadValue(
            f"birth_year: {text!r} is not a year from {OLDEST_BIRTH_YEAR} to {this_year}"
        )
    return int(text)


def _last_contact(row: dict[str, str], tz: tzinfo) -> LastContact | None:
    operator = row.get("last_contact_operator") or None
    category = row.get("last_contact_category") or None
    outcome = row.get("last_contact_outcome") or None
    when = row.get("last_contact_at", "")
    if not when:
        if operator or category or outcome:
            raise BadValue("last_contact_at is empty but other last_contact_* columns are not")
        return None
    return LastContact(_moment("last_contact_at", when, tz), operator, category, outcome)


def _appointments(text: str, tz: tzinfo) -> tuple[Appointment, ...]:
    visits = []
    for item in _split(text):
        parts = [part.strip() for part in item.split("|")]
        if len(parts) > 3:
            raise BadValue(f"appointments: {item!r} has more than 3 parts (when|doctor|branch)")
        parts += [""] * (3 - len(parts))
        when, doctor, branch = parts
        if len(doctor) > MAX_DOCTOR or len(branch) > DEFAULT_MAX_LENGTH:
            raise BadValue(f"appointments: {item!r}: doctor or branch too long")
        visits.append(
            Appointment(_moment("appointments", when, tz), doctor or None, branch or None)
        )
    if len(visits) > MAX_LIST:
        raise BadValue(f"appointments: more than {MAX_LIST}")
    return tuple(sorted(visits, key=lambda visit: visit.starts_at))


def _moment(column: str, text: str, tz: tzinfo) -> datetime:
    """ISO 8601 date and time; with an offset (`+03:00`, `Z`) as given, else local in `tz`."""
    try:
        if len(text) < 16 or text[10] not in "T ":
            raise ValueError
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(
            f"{column}: bad date {text!r} (expected e.g. 2026-12-01T10:30 or "
            "2026-12-01T10:30+03:00)"
        ) from None
    if moment.year not in PLAUSIBLE_YEARS:
        raise BadValue(f"{column}: bad date {text!r} (year outside 2000-2100)")
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=tz)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]
