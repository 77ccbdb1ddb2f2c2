"""`clinic-router patients import|show`: the patient store from the command line.

The CSV format is `router.storage.patients_csv` (documented in docs/patients.md). The import
streams: it holds a few chunks of rows at a time, whatever the file's size.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.config.settings import Settings
from router.domain.phone import normalise_caller
from router.http.patients import phone_json
from router.storage.models import PatientRecord
from router.storage.patients import PatientRepository
from router.storage.patients_csv import (
    COLUMNS,
    DEFAULT_TZ,
    Packed,
    Rejected,
    parse_chunk,
    parse_chunk_packed,
    parse_rows,
    raw_rows,
    read_header,
    unpack,
)
from router.storage.store import Store

__all__ = ["COLUMNS", "ImportReport", "Rejected", "import_csv", "import_rows", "parse_rows"]

CHUNK = 5000  # rows checked by a worker at a time, then written in one upsert()
TRANSACTION = 5000  # records per committed transaction (measured: docs/patients.md)
_Raw = tuple[int, list[str] | Rejected]
PROGRESS_EVERY = 100_000  # rows


@dataclass(frozen=True)
class ImportReport:
    imported: int  # records written (an id repeated in the file counts each time)
    rejected: int
    seconds: float
    bad_header: bool = False  # nothing was read: the header is unusable


def zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def unknown_zone(name: str | None) -> str:
    return f"--tz {name!r}: unknown time zone (e.g. Europe/Moscow)"


def zone_arg(name: str) -> tzinfo | None:
    """The zone of `--tz`, or None once stderr says it is unknown (the command exits 2)."""
    found = zone(name)
    if found is None:
        print(unknown_zone(name), file=sys.stderr)
    return found


async def import_rows(
    store: Store,
    lines: Iterable[str],
    *,
    tz: tzinfo,
    source: str,
    err: TextIO,
    progress_every: int = PROGRESS_EVERY,
    workers: int = 1,
    chunk_rows: int = CHUNK,
) -> ImportReport:
    """Upsert every good row of a CSV stream; each rejected row is reported on `err`
    as `source:line: rejected: reason`, and progress every `progress_every` rows.

    `workers` processes check rows (normalising phone numbers is most of the CPU) while
    this one writes the previous chunk; 0 checks them here. At most `workers + 1` chunks
    of `chunk_rows` rows are in memory, whatever the file's size. The workers are
    spawned: a script calling this with `workers > 0` needs the usual
    `if __name__ == "__main__":` guard (the `clinic-router` command has it).
    """
    started = time.monotonic()
    progress = _Progress(source, err, progress_every, started)
    reader = csv.reader(lines)
    header = read_header(reader)
    if isinstance(header, Rejected):
        progress.reject(header)
        return ImportReport(0, 1, time.monotonic() - started, bad_header=True)
    repository = PatientRepository(store.db, batch_size=TRANSACTION)
    year = datetime.now(tz).year
    chunks = _chunks(raw_rows(reader), chunk_rows)
    imported = 0
    if workers <= 0:
        for chunk in chunks:
            imported += await _write(repository, parse_chunk(header, chunk, tz, year), progress)
            progress.read(len(chunk))
        return ImportReport(imported, progress.rejected, time.monotonic() - started)
    loop = asyncio.get_running_loop()
    # spawn, not fork: this process has threads (the SQLite driver's), which fork copies badly.
    context = multiprocessing.get_context("spawn")
    pending: deque[tuple[int, asyncio.Future[list[Packed | Rejected]]]] = deque()
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        try:
            for chunk in chunks:
                job = loop.run_in_executor(pool, parse_chunk_packed, header, chunk, tz, year)
                pending.append((len(chunk), job))
                if len(pending) > workers:  # the workers check ahead while we write
                    imported += await _write_next(repository, pending, progress)
            while pending:
                imported += await _write_next(repository, pending, progress)
        finally:
            for _, job in pending:
                job.cancel()
    return ImportReport(imported, progress.rejected, time.monotonic() - started)


async def _write_next(
    repository: PatientRepository,
    pending: deque[tuple[int, asyncio.Future[list[Packed | Rejected]]]],
    progress: _Progress,
) -> int:
    size, job = pending.popleft()
    written = await _write(repository, [unpack(item) for item in await job], progress)
    progress.read(size)
    return written


async def _write(
    repository: PatientRepository, parsed: list[PatientRecord | Rejected], progress: _Progress
) -> int:
    records = []
    for item in parsed:
        if isinstance(item, Rejected):
            progress.reject(item)
        else:
            records.append(item)
    return await repository.upsert(records) if records else 0


class _Progress:
    def __init__(self, source: str, err: TextIO, every: int, started: float) -> None:
        self.source, self.err, self.every, self.started = source, err, max(1, every), started
        self.rows = self.rejected = 0

    def reject(self, item: Rejected) -> None:
        self.rejected += 1
        print(f"{self.source}:{item.line}: rejected: {item.reason}", file=self.err)

    def read(self, rows: int) -> None:
        before, self.rows = self.rows, self.rows + rows
        if before // self.every != self.rows // self.every:
            took = max(time.monotonic() - self.started, 1e-3)
            print(
                f"{self.source}: {self.rows:,} rows read, {self.rejected:,} rejected, "
                f"{took:.0f}s ({self.rows / took:,.0f} rows/s)",
                file=self.err,
                flush=True,
            )


def _chunks(rows: Iterator[_Raw], size: int) -> Iterator[list[_Raw]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


async def import_csv(
    settings: Settings,
    path: Path,
    *,
    tz_name: str = DEFAULT_TZ,
    progress_every: int = PROGRESS_EVERY,
    workers: int = 1,
) -> int:
    """Exit code 0: all rows imported; 1: some rows rejected; 2: nothing could be read."""
    tz = zone_arg(tz_name)
    if tz is None:
        return 2
    # A command-line tool: nothing else runs on this loop, so plain file I/O is fine.
    if not path.is_file():  # noqa: ASYNC240
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    store = await Store.open(settings.database.url.get_secret_value(), migrate=True)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            report = await import_rows(
                store,
                handle,
                tz=tz,
                source=str(path),
                err=sys.stderr,
                progress_every=progress_every,
                workers=workers,
            )
    except UnicodeDecodeError as exc:
        print(f"{path}: not UTF-8 text (byte {exc.start} of a chunk)", file=sys.stderr)
        return 2
    finally:
        await store.close()
    if report.bad_header:
        return 2
    print(
        f"{path}: {report.imported} patients imported, {report.rejected} rows rejected "
        f"in {report.seconds:.1f}s"
    )
    return 0 if report.rejected == 0 else 1


async def show_phone(
    settings: Settings, phone: str, *, tz_name: str = DEFAULT_TZ, as_json: bool = False
) -> int:
    """Every patient on `phone` with the full profile; exit 1 when there is none."""
    tz = zone_arg(tz_name)
    if tz is None:
        return 2
    number = normalise_caller(phone)
    if number.e164 is None:
        print(f"{phone!r} is not a valid phone number", file=sys.stderr)
        return 2
    store = await Store.open(settings.database.url.get_secret_value(), migrate=True)
    try:
        patients = await store.patients.find_by_phone(number.e164)
    finally:
        await store.close()
    if as_json:
        print(json.dumps(phone_json(number.e164, patients), ensure_ascii=False, default=_iso))
    elif not patients:
        print(f"{number.e164}: no patient")
    else:
        print(f"{number.e164}: {len(patients)} patient(s)")
        for record in patients:
            print(format_profile(record, tz))
    return 0 if patients else 1


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def format_profile(record: PatientRecord, tz: tzinfo) -> str:
    """A patient for people: one field per line, date-times in `tz`."""

    def local(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %z")

    contact = record.last_contact
    lines = [
        f"\n{record.id}  {record.name or '(no name)'}"
        + (f"  born {record.birth_year}" if record.birth_year else ""),
        f"  phones:           {', '.join(record.phones) or '-'}",
        f"  assigned:         {record.assigned_operator_id or '-'}  team: {record.team or '-'}",
        f"  tags:             {', '.join(record.tags) or '-'}",
        f"  language:         {record.language or '-'}  branch: {record.preferred_branch or '-'}",
        f"  do not call:      {'yes' if record.do_not_call else 'no'}",
        "  last contact:     "
        + (
            "-"
            if contact is None
            else f"{local(contact.at)} by {contact.operator_id or '-'}, "
            f"{contact.category or '-'}: {contact.outcome or '-'}"
        ),
        "  appointments:" + ("     -" if not record.appointments else ""),
    ]
    lines.extend(
        f"    {local(a.starts_at)}  {a.doctor or '-'}  {a.branch or '-'}"
        for a in record.appointments
    )
    return "\n".join(lines).rstrip()
