"""`patients import` and `patients show`: CSV into the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cli_support import main_in_process
from storage_support import BACKENDS, migrated_store

from router.cli.patients import import_rows
from router.storage import Appointment, LastContact, Store

REPO = Path(__file__).resolve().parents[2]
MSK = ZoneInfo("Europe/Moscow")
CSV = (
    "patient_id,name,phones,birth_year,last_contact_at,last_contact_operator,"
    "last_contact_category,last_contact_outcome,appointments\n"
    "p1,Анна,8 916 123-45-67,1984,2026-11-20T09:15,op3,dms,booked,"
    "2026-12-01T10:30|Dr Ivanov|moscow;2026-12-03T09:00|Dr Sidorov|khimki\n"
    "p2,Миша,+79161234567,2018,,,,,2026-12-02T16:00+03:00|Dr Petrova|moscow\n"
    "p3,Bad,+79160000003,1884,,,,,\n"
    "p4,Also bad,+79160000004,,,,,,2026-13-01T10:00\n"
)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


@pytest.mark.parametrize("workers", [0, 1])  # 1: rows checked in a spawned process
async def test_import_upserts_good_rows_and_reports_bad_ones(store: Store, workers: int) -> None:
    err = io.StringIO()
    report = await import_rows(
        store,
        io.StringIO(CSV),
        tz=MSK,
        source="f.csv",
        err=err,
        progress_every=3,
        workers=workers,
        chunk_rows=1,
    )
    assert (report.imported, report.rejected) == (2, 2)
    report_lines = err.getvalue().splitlines()
    assert "f.csv:4: rejected: birth_year: '1884' is not a year from 1900 to" in report_lines[0]
    assert report_lines[1].startswith("f.csv: 3 rows read, 1 rejected")  # progress
    assert report_lines[2].startswith("f.csv:5: rejected: appointments: bad date")

    mother, child = await store.patients.find_by_phone("+79161234567")
    assert mother.last_contact == LastContact(
        datetime(2026, 11, 20, 6, 15, tzinfo=UTC), "op3", "dms", "booked"
    )
    assert mother.appointments == (
        Appointment(datetime(2026, 12, 1, 7, 30, tzinfo=UTC), "Dr Ivanov", "moscow"),
        Appointment(datetime(2026, 12, 3, 6, 0, tzinfo=UTC), "Dr Sidorov", "khimki"),
    )
    assert (child.id, child.birth_year, len(child.appointments)) == ("p2", 2018, 1)
    assert await store.patients.get("p3") is None


async def test_reimport_replaces_appointments_by_patient_id(store: Store) -> None:
    err = io.StringIO()
    await import_rows(store, io.StringIO(CSV), tz=MSK, source="f.csv", err=err, workers=0)
    update = "patient_id,phones,appointments\np1,+79161234567,2026-12-05T12:00|Dr New|centre\n"
    report = await import_rows(
        store, io.StringIO(update), tz=MSK, source="g.csv", err=err, workers=0
    )
    assert (report.imported, report.rejected) == (1, 0)
    found = await store.patients.get("p1")
    assert found is not None
    assert found.appointments == (
        Appointment(datetime(2026, 12, 5, 9, 0, tzinfo=UTC), "Dr New", "centre"),
    )
    assert found.last_contact is None and found.birth_year is None  # columns left out: cleared


def _cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
        "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
        "CLINIC_ROUTER_DB_URL": f"sqlite+aiosqlite:///{db}",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "router",
            "patients",
            *args,
            "--config",
            str(REPO / "config" / "router.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, **env},
    )


@pytest.fixture
def in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`clinic-router patients ARGS` in this process (cli_support.py); the first command
    of the test below runs as a real process."""

    def run(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
        argv = ["patients", *args, "--config", str(REPO / "config" / "router.yaml")]
        env = {
            "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
            "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
            "CLINIC_ROUTER_DB_URL": f"sqlite+aiosqlite:///{db}",
        }
        return main_in_process(argv, env, capsys, monkeypatch)

    return run


def test_cli_import_then_show_the_full_profile(
    tmp_path: Path, in_process: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    db = tmp_path / "router.db"
    csv_file = tmp_path / "patients.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    # the real command line, its rows checked in a spawned worker process (the default);
    # the rest in this process
    imported = _cli("import", str(csv_file), "--tz", "Europe/Moscow", db=db)
    assert imported.returncode == 1, imported.stderr  # some rows rejected
    assert f"{csv_file}:4: rejected: birth_year" in imported.stderr
    assert "2 patients imported, 2 rows rejected" in imported.stdout

    shown = in_process("show", "8 (916) 123-45-67", db=db)
    assert shown.returncode == 0, shown.stderr
    assert "+79161234567: 2 patient(s)" in shown.stdout
    assert "p1  Анна  born 1984" in shown.stdout
    assert "2026-11-20 09:15 +0300 by op3, dms: booked" in shown.stdout
    assert "2026-12-01 10:30 +0300  Dr Ivanov  moscow" in shown.stdout

    as_json = in_process("show", "+79161234567", "--json", db=db)
    body = json.loads(as_json.stdout)
    assert [p["id"] for p in body["patients"]] == ["p1", "p2"]
    assert body["patients"][0]["appointments"][0] == {
        "starts_at": "2026-12-01T07:30:00+00:00",
        "doctor": "Dr Ivanov",
        "branch": "moscow",
    }

    assert in_process("show", "+79169999999", db=db).returncode == 1
    assert in_process("import", str(csv_file), "--tz", "Mars/Olympus", db=db).returncode == 2
    csv_file.write_text("patient_id,phones,nmae\np1,+79161234567,x\n", encoding="utf-8")
    bad_header = in_process("import", str(csv_file), db=db)
    assert bad_header.returncode == 2
    assert f"{csv_file}:1: rejected: unknown column(s): nmae" in bad_header.stderr
