"""`clinic-router report …` as an admin runs it: table, CSV and JSON shapes.

The commands run in this process (the `cli` fixture, cli_support.py); the bad period's
first runs as a real process, where a traceback or a second stderr line would show. The
reports only read the database: one per module."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from cli_support import Cli, run_cli

from router.storage import Store
from router.storage.models import CallRow

T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 10:00 in Moscow


async def _answered(store: Store, cid: str, start: datetime, wait_s: float, op: str) -> None:
    await store.calls.create(
        CallRow(cid, "clinic-router", "100", "74950000000", start, line="moscow")
    )
    await store.calls.append_event(
        cid, "waiting", {"for": "queue dms"}, start + timedelta(seconds=5)
    )
    answered = start + timedelta(seconds=5 + wait_s)
    await store.calls.record_ring_attempt(
        call_id=cid, operator_id=op, channel_id=None, started_at=answered - timedelta(seconds=2),
        ended_at=answered, result="answered",
    )  # fmt: skip
    await store.calls.update(
        cid, answered_at=answered, ended_at=answered + timedelta(minutes=2),
        outcome="answered", operator_id=op,
    )  # fmt: skip


async def _fill(url: str) -> None:
    store = await Store.open(url, migrate=True)
    try:
        await _answered(store, "a", T0, 10, "op1")  # 10:00, in target
        await _answered(store, "b", T0 + timedelta(minutes=70), 40, "op2")  # 11:10, late
        await store.calls.create(
            CallRow("c", "clinic-router", "100", "7495", T0 - timedelta(days=1))
        )
        await store.calls.update("c", outcome="abandoned", ended_at=T0 - timedelta(days=1))
    finally:
        await store.close()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('reports') / 'router.db'}"
    asyncio.run(_fill(url))
    return url


DAY = ("--from", "2026-12-01", "--to", "2026-12-01", "--tz", "Europe/Moscow")


def test_calls_by_hour_as_csv(db_url: str, cli: Cli) -> None:
    done = cli("report", "calls", *DAY, "--by", "hour", "--format", "csv", db_url=db_url)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["key"], r["offered"], r["answered"], r["service_level"]) for r in rows] == [
        ("2026-12-01 10:00+0300", "1", "1", "1.0"),
        ("2026-12-01 11:00+0300", "1", "1", "0.0"),
        ("total", "2", "2", "0.5"),
    ]
    assert rows[-1]["asa_s"] == "25.0" and rows[-1]["talk_total_s"] == "240.0"


def test_operators_and_misses_as_json_and_table(db_url: str, cli: Cli) -> None:
    done = cli("report", "operators", *DAY, "--format", "json", db_url=db_url)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert set(body) == {"section", "start", "end", "rows"}
    assert (
        body["start"] == "2026-12-01T00:00:00+03:00" and body["end"] == "2026-12-02T00:00:00+03:00"
    )
    assert [(r["operator_id"], r["answered"], r["answer_rate"]) for r in body["rows"]] == [
        ("op1", 1, 1.0),
        ("op2", 1, 1.0),
    ]
    table = cli("report", "misses", *DAY, db_url=db_url)
    assert table.returncode == 0, table.stderr
    assert "figure" in table.stdout.splitlines()[1] and "tasks_created" in table.stdout


def test_compare_with_the_day_before(db_url: str, cli: Cli) -> None:
    done = cli("report", "compare", *DAY, "--format", "json", db_url=db_url)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["previous_start"] == "2026-11-30T00:00:00+03:00"
    offered = next(r for r in body["rows"] if r["figure"] == "calls.offered")
    assert (offered["current"], offered["previous"], offered["change"]) == (2, 1, 1.0)


def test_a_bad_period_is_one_line_and_exit_2(db_url: str, cli: Cli) -> None:
    done = run_cli("report", "calls", "--from", "yesterday", db_url=db_url)  # a real process
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "--from: 'yesterday': expected a date (2026-11-30) or a date and time (2026-11-30T09:00)"
    ]
    empty = cli("report", "calls", "--from", "2026-12-02", "--to", "2026-12-01", db_url=db_url)
    assert empty.returncode == 2 and "the period is empty" in empty.stderr


def test_staffing_table(db_url: str, cli: Cli) -> None:
    done = cli("staffing", *DAY, "--goal", "0.8", db_url=db_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("staffing 2026-12-01T00:00:00+03:00")
    assert lines[1].split()[:4] == ["key", "hours", "calls_per_hour", "handle_s"]
    assert [line.split()[:3] for line in lines[2:]] == [["Tue", "10", "1"], ["Tue", "11", "1"]]
    bad = cli("staffing", "--goal", "80", db_url=db_url)
    assert bad.returncode == 2 and "--goal must be a share" in bad.stderr


def test_calls_by_branch_from_the_rules(db_url: str, cli: Cli) -> None:
    done = cli("report", "calls", *DAY, "--by", "branch", "--format", "json", db_url=db_url)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    # config/rules.yaml: the moscow line is the moscow branch.
    assert [(r["key"], r["offered"]) for r in rows] == [("moscow", 2), ("total", 2)]
