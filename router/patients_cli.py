"""`clinic-router patients import|show`: the patient store from the command line.

CSV columns (header row required; only `patient_id` and `phones` are mandatory):
`patient_id,name,phones,assigned_operator,team,tags,language,preferred_branch,do_not_call`.
`phones` and `tags` hold several values separated by `;`. Phones are normalised to E.164;
a row with no valid phone is rejected with its line number and reason.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from router.config.settings import Settings
from router.domain.phone import normalise_caller
from router.storage.models import PatientRecord
from router.storage.store import Store

BATCH = 5000
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
)
TRUE = {"1", "true", "yes", "y", "да"}


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


def parse_rows(lines: Iterator[str]) -> Iterator[PatientRecord | Rejected]:
    """Parse CSV lines into records or rejections; never raises on bad rows."""
    reader = csv.DictReader(lines)
    missing = {"patient_id", "phones"} - set(reader.fieldnames or ())
    if missing:
        yield Rejected(1, f"header lacks column(s): {', '.join(sorted(missing))}")
        return
    unknown = set(reader.fieldnames or ()) - set(COLUMNS)
    if unknown:
        yield Rejected(
            1, f"unknown column(s): {', '.join(sorted(unknown))} (known: {', '.join(COLUMNS)})"
        )
        return
    for row in reader:
        line = reader.line_num
        patient_id = (row.get("patient_id") or "").strip()
        if not patient_id or len(patient_id) > 64:
            yield Rejected(line, "patient_id is empty or longer than 64 characters")
            continue
        phones, bad = [], []
        for raw in (row.get("phones") or "").split(";"):
            if raw.strip():
                number = normalise_caller(raw)
                (phones.append(number.e164) if number.e164 else bad.append(raw.strip()))
        if not phones:
            yield Rejected(line, f"no valid phone number (got {';'.join(bad) or 'nothing'!r})")
            continue
        yield PatientRecord(
            id=patient_id,
            name=(row.get("name") or "").strip(),
            phones=tuple(dict.fromkeys(phones)),
            assigned_operator_id=(row.get("assigned_operator") or "").strip() or None,
            team=(row.get("team") or "").strip() or None,
            tags=tuple(t.strip() for t in (row.get("tags") or "").split(";") if t.strip()),
            language=(row.get("language") or "").strip() or "ru",
            preferred_branch=(row.get("preferred_branch") or "").strip() or None,
            do_not_call=(row.get("do_not_call") or "").strip().lower() in TRUE,
        )


async def import_csv(settings: Settings, path: Path) -> int:
    # A command-line tool: nothing else runs on this loop, so plain file I/O is fine.
    if not path.is_file():  # noqa: ASYNC240
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    store = await Store.open(settings.database.url.get_secret_value(), migrate=True)
    started, imported, rejected = time.monotonic(), 0, 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            batch: list[PatientRecord] = []
            for item in parse_rows(handle):
                if isinstance(item, Rejected):
                    rejected += 1
                    print(f"{path}:{item.line}: rejected: {item.reason}", file=sys.stderr)
                    continue
                batch.append(item)
                if len(batch) >= BATCH:
                    await store.patients.upsert(batch)
                    imported += len(batch)
                    batch.clear()
                    print(f"... {imported} imported", file=sys.stderr)
            if batch:
                await store.patients.upsert(batch)
                imported += len(batch)
    except UnicodeDecodeError:
        print(f"{path}: not UTF-8 text", file=sys.stderr)
        return 2
    finally:
        await store.close()
    print(
        f"{path}: {imported} patients imported, {rejected} rows rejected "
        f"in {time.monotonic() - started:.1f}s"
    )
    return 0 if rejected == 0 else 1


async def show_phone(settings: Settings, phone: str) -> int:
    number = normalise_caller(phone)
    if number.e164 is None:
        print(f"{phone!r} is not a valid phone number", file=sys.stderr)
        return 2
    store = await Store.open(settings.database.url.get_secret_value(), migrate=True)
    try:
        patients = await store.patients.find_by_phone(number.e164)
    finally:
        await store.close()
    if not patients:
        print(f"{number.e164}: no patient")
        return 1
    for p in patients:
        print(
            f"{p.id}\t{p.name}\tphones={','.join(p.phones)}\t"
            f"assigned={p.assigned_operator_id or '-'}\ttags={','.join(p.tags) or '-'}"
        )
    return 0
