"""Interval rollups (`router/storage/report_rollup_sql.py`, `report_rollup_read.py`) give
the raw sums' figures (`ReportSql`) on SQLite and PostgreSQL: counts and sums exactly,
percentiles to the second (each at most one second below the raw one, never above),
over a period across Berlin's clock change (25 October), not on the intervals' grid
(its edges read raw), with calls across midnight, calls still open when the rollups are
built (their intervals are not built) and a late write to a built interval (unmarked,
read raw, rebuilt)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cli_support import main_in_process
from report_support import BERLIN, T0, _fill
from sqlalchemy import func, insert, select, update
from storage_support import BACKENDS, migrated_store

from router.domain.reports import CALL_GROUPS
from router.domain.reports.calls import CallSums
from router.domain.reports.intervals import HOUR_US
from router.domain.reports.operators import OperatorSums
from router.engine.rollups import rollup_every
from router.storage import Store, report_rollup_read
from router.storage.report_facts_sql import instant_us
from router.storage.report_rollup_read import RolledReportSql
from router.storage.report_rollup_sql import (
    SETTLE_MARGIN,
    Rollups,
    fill_facts,
    floor_interval_us,
    mark_stale,
)
from router.storage.report_sql import ReportSql
from router.storage.tables import (
    calls,
    report_call_hours,
    report_intervals,
    report_operator_days,
    report_rollups,
)

PERIOD = (T0 + timedelta(minutes=7), T0 + timedelta(hours=36, minutes=5))  # off the grid
NOW = T0 + timedelta(days=3)
TARGETS = {"queue dms": 12.0, "assigned op1": 30.0}
_PERCENTILES = ("wait_p50_s", "wait_p90_s", "route_known_s", "route_unknown_s")


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def _same_calls(rolled: CallSums, raw: CallSums, where: str) -> int:
    """Asserts; returns how many percentiles differ (to the second, by the histograms)."""
    a, b = dataclasses.asdict(rolled), dataclasses.asdict(raw)
    differ = 0
    for name in _PERCENTILES:
        x, y = a.pop(name), b.pop(name)
        assert (x is None) == (y is None), (where, name)
        if x is not None:
            assert y - 1 < x <= y + 1e-9, (where, name, x, y)
            differ += x != y
    assert a == b, where
    return differ


def _same_operators(rolled: dict[str, OperatorSums], raw: dict[str, OperatorSums]) -> None:
    assert rolled.keys() == raw.keys()
    for op, r in raw.items():
        x, y = rolled[op], r
        assert (x.results, x.answers, x.answer_ms, x.talks, x.talk_us) == (
            y.results, y.answers, y.answer_ms, y.talks, y.talk_us,
        ), op  # fmt: skip
        assert (x.answer_p50_s is None) == (y.answer_p50_s is None), op
        if y.answer_p50_s is not None:
            assert x.answer_p50_s is not None
            assert y.answer_p50_s - 1 < x.answer_p50_s <= y.answer_p50_s + 1e-9, op


async def _compare(store: Store, targets: dict[str, float] | None = None) -> int:
    """Asserts the rolled and raw sums agree; returns how many percentiles differ."""
    groups: list[Any] = [None, *CALL_GROUPS]
    branches = {"spb": "north", "moscow": "centre"}
    args = (*PERIOD, BERLIN, groups, targets or TARGETS, 20.0, branches)
    raw = await ReportSql(store.db).call_sums(*args)
    rolled = await RolledReportSql(store.db).call_sums(*args)
    differ = 0
    for group, r, x in zip(groups, raw, rolled, strict=True):
        assert x.sums.keys() == r.sums.keys(), group
        assert x.first == r.first, group
        for key, sums in r.sums.items():
            differ += _same_calls(x.sums[key], sums, f"{group} {key}")
    _same_operators(
        await RolledReportSql(store.db).operator_sums(*PERIOD),
        await ReportSql(store.db).operator_sums(*PERIOD),
    )
    return differ


async def _built(store: Store) -> int:
    async with store.db.connect() as conn:
        count = select(func.count()).select_from(report_rollups)
        return int((await conn.execute(count)).scalar_one())


async def _add_midnight_call(store: Store) -> None:
    """Answered at 23:58 Berlin on 25 October, ended after midnight."""
    start = datetime(2026, 10, 25, 22, 58, 3, 250_001, tzinfo=UTC)
    row = {
        "id": "midnight", "app": "clinic-router", "caller_raw": "x", "did": "7495",
        "line": "spb", "started_at": start, "phase": "ended", "patient_id": None,
        "outcome": "answered", "answered_at": start + timedelta(seconds=40),
        "ended_at": start + timedelta(minutes=9), "operator_id": "op1", "tried_operators": [],
    }  # fmt: skip
    async with store.db.begin() as conn:
        await conn.execute(insert(calls), [row])


@pytest.mark.parametrize("seed", [1, 2])
async def test_rollups_give_the_raw_figures(store: Store, seed: int) -> None:
    await _fill(store, seed, 400)
    await _add_midnight_call(store)
    assert await _compare(store) == 0  # nothing built: the raw path itself
    built = await Rollups(store.db).build(T0 - timedelta(hours=2), T0 + timedelta(hours=40), NOW)
    assert built == await _built(store) > 100
    # intervals with a call still open (no end) are not built
    async with store.db.connect() as conn:
        open_starts = (
            (await conn.execute(select(calls.c.started_at).where(calls.c.ended_at.is_(None))))
            .scalars()
            .all()
        )
        marks = set((await conn.execute(select(report_rollups.c.interval_us))).scalars())
        assert (await conn.execute(select(func.count()).select_from(report_intervals))).scalar()
    assert open_starts
    for at in open_starts:
        us = int((at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
        assert us - us % 900_000_000 not in marks
    assert await _compare(store) > 0  # the histograms are read
    # a second build finds nothing to do; a rebuild gives the same figures
    assert (
        await Rollups(store.db).build(T0 - timedelta(hours=2), T0 + timedelta(hours=40), NOW) == 0
    )
    await Rollups(store.db).build(T0, T0 + timedelta(hours=40), NOW, rebuild=True)
    await _compare(store)
    # a target not in whole seconds: the raw path (exact)
    assert await _compare(store, {"queue dms": 12.5}) == 0


async def test_a_late_write_unmarks_its_interval(store: Store) -> None:
    await _fill(store, 3, 300)
    await Rollups(store.db).build(T0, T0 + timedelta(hours=40), NOW)
    before = await _built(store)
    async with store.db.connect() as conn:
        late = (
            await conn.execute(
                select(calls.c.id)
                .where(calls.c.outcome == "answered", calls.c.started_at > PERIOD[0])
                .limit(1)
            )
        ).scalar_one()
    # a reconcile after a restart rewrites the call: its interval is read raw at once
    await store.calls.update(late, outcome="failed", operator_id=None)
    assert await _built(store) == before - 1
    await _compare(store)
    assert await Rollups(store.db).build(T0, T0 + timedelta(hours=40), NOW) == 1
    await _compare(store)


async def test_a_mark_that_changes_during_a_report_neither_drops_nor_doubles_an_interval(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored rows read are those of the intervals the raw edges were cut by: a late
    write unmarking a built interval while a report runs (here: as its raw edges are
    read) leaves that interval counted once, from its stored rows (it was read neither
    stored nor raw when the marks were read again: 263 calls of 265)."""
    await _fill(store, 3, 300)
    await Rollups(store.db).build(T0, T0 + timedelta(hours=40), NOW)
    async with store.db.connect() as conn:
        late = (
            await conn.execute(
                select(calls.c.id)
                .where(calls.c.started_at > T0 + timedelta(hours=12), calls.c.ended_at.isnot(None))
                .order_by(calls.c.started_at)
                .limit(1)
            )
        ).scalar_one()
    real_fill = fill_facts
    unmarked: list[str] = []

    async def fill_while_a_late_write_lands(conn: Any, dialect: str, ranges: Any) -> None:
        if not unmarked:
            unmarked.append(late)
            async with store.db.begin() as writer:
                await mark_stale(writer, store.db.dialect_name, [late])
        await real_fill(conn, dialect, ranges)

    monkeypatch.setattr(report_rollup_read, "fill_facts", fill_while_a_late_write_lands)
    args: tuple[Any, ...] = (*PERIOD, BERLIN, [None], {}, 20.0, {})
    [rolled] = await RolledReportSql(store.db).call_sums(*args)
    [raw] = await ReportSql(store.db).call_sums(*args)
    assert unmarked == [late]
    assert sum(s.calls for s in rolled.sums.values()) == sum(s.calls for s in raw.sums.values())


async def test_built_intervals_in_many_runs_read_the_longest_stored_and_the_rest_raw(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built intervals broken into more runs than a report reads stored (`MAX_RUNS`,
    two here) by late writes: the figures are still the raw ones."""
    await _fill(store, 3, 300)
    await Rollups(store.db).build(T0, T0 + timedelta(hours=40), NOW)
    async with store.db.connect() as conn:
        ids = (
            (
                await conn.execute(
                    select(calls.c.id)
                    .where(calls.c.started_at > PERIOD[0], calls.c.ended_at.isnot(None))
                    .order_by(calls.c.started_at)
                )
            )
            .scalars()
            .all()
        )
    async with store.db.begin() as writer:  # every 40th call's interval unmarked
        await mark_stale(writer, store.db.dialect_name, ids[::40])
    monkeypatch.setattr(report_rollup_read, "MAX_RUNS", 2)
    await _compare(store)


async def test_the_routers_task_builds_the_history(store: Store) -> None:
    await _fill(store, 4, 200)
    rollups = Rollups(store.db)
    first = await rollups.first_call()
    assert first is not None
    low = floor_interval_us(instant_us(first))
    high = floor_interval_us(instant_us(NOW - SETTLE_MARGIN))
    async with store.db.connect() as conn:  # what the first pass is to build
        expected = len(await rollups._wanted(conn, store.db.dialect_name, low, high, False))
    task = asyncio.create_task(rollup_every(rollups, lambda: NOW, first_s=0, every_s=0.01))
    try:
        for _ in range(600):
            if await _built(store) == expected:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        # a pass may be amid a transaction (the hours and days follow the intervals):
        # let it roll back before the next writer
        await asyncio.gather(task, return_exceptions=True)
    assert await _built(store) == expected > 100
    assert await rollups.build(first, NOW, NOW) == 0
    await _compare(store)


async def _seeded(url: str) -> None:
    store = await Store.open(url, migrate=True)
    try:
        await _fill(store, 5, 150)
    finally:
        await store.close()


def test_the_rollup_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    asyncio.run(_seeded(url))
    settings = str(Path(__file__).resolve().parents[2] / "config" / "router.yaml")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {"CLINIC_ROUTER_DB_URL": url}
        return main_in_process(["report", *args, "--config", settings], env, capsys, monkeypatch)

    day = ("--from", "2026-10-25", "--to", "2026-10-25", "--tz", "Europe/Berlin")
    before = run("calls", *day, "--by", "hour", "--format", "json")
    done = run("rollup", "--tz", "Europe/Berlin")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    # from the first call's day to now: every settled interval but those with open calls
    assert int(done.stdout.split(": ")[-1].split()[0]) > 96 * 3, done.stdout
    again = run("rollup", "--tz", "Europe/Berlin")
    assert again.stdout.split(": ")[-1].startswith("0 intervals built"), again.stdout
    after = run("calls", *day, "--by", "hour", "--format", "json")
    rows_before, rows_after = (json.loads(r.stdout)["rows"] for r in (before, after))
    counted = ("key", "offered", "answered", "abandoned", "waited", "service_level")
    assert [[r[k] for k in counted] for r in rows_after] == [
        [r[k] for k in counted] for r in rows_before
    ]
    rebuilt = run("rollup", *day, "--rebuild")
    assert rebuilt.returncode == 0 and " 0 intervals" not in rebuilt.stdout, rebuilt.stdout


async def _span_rows(store: Store, table: Any) -> list[int]:
    """The spans `table` (an hours' or days' table) holds rows of."""
    async with store.db.connect() as conn:
        spans = select(table.c.span_us).distinct().order_by(table.c.span_us)
        return list((await conn.execute(spans)).scalars())


async def _close_open_calls(store: Store) -> None:
    """Every interval of the data can then be built, so whole hours and days are."""
    async with store.db.begin() as conn:
        open_calls = select(calls.c.id, calls.c.started_at).where(calls.c.ended_at.is_(None))
        for call_id, started in (await conn.execute(open_calls)).all():
            ended = {"ended_at": started + timedelta(seconds=30), "outcome": "abandoned"}
            await conn.execute(update(calls).where(calls.c.id == call_id).values(**ended))


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """What the rolled-up reads read: (table, how many spans) per part read."""
    read: list[tuple[str, int]] = []
    real_operators = report_rollup_read.stored_operators
    real_hists = report_rollup_read.merged_hists

    async def operators(conn: Any, dialect: str, part: Any) -> Any:
        read.append((part.table.name, len(part.spans)))
        return await real_operators(conn, dialect, part)

    async def hists(conn: Any, parts: Any, of_row: Any) -> Any:
        read.extend((p.table.name, len(p.spans)) for p in parts)
        return await real_hists(conn, parts, of_row)

    monkeypatch.setattr(report_rollup_read, "stored_operators", operators)
    monkeypatch.setattr(report_rollup_read, "merged_hists", hists)
    return read


DAY = datetime(2026, 10, 25, tzinfo=UTC)  # whole inside PERIOD (25 hours: clocks go back)


async def test_whole_hours_and_days_are_read_from_their_rows_and_follow_a_late_write(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A period's whole built UTC hours read the calls' hour rows, its whole built days
    the calls' and operators' day rows (`report_rollup_spans.py`), the other built
    intervals their own, the edges raw: equal to the raw sums, by every grouping. A late
    write to a call makes its hour and day not whole at once (the figures follow), and
    building its interval again writes them again."""
    await _fill(store, 6, 400)
    await _close_open_calls(store)
    rollups = Rollups(store.db)
    await rollups.build(T0 - timedelta(hours=2), T0 + timedelta(hours=40), NOW)
    assert await _span_rows(store, report_operator_days) == [instant_us(DAY)]
    hours = await _span_rows(store, report_call_hours)
    assert len(hours) >= 30
    read = _spy(monkeypatch)
    await _compare(store)
    assert ("report_operator_days", 1) in read and ("report_call_days", 1) in read
    hours_read = max(n for name, n in read if name == "report_call_hours")
    assert hours_read > 24, read
    async with store.db.connect() as conn:
        late_of = (
            select(calls.c.id, calls.c.started_at)
            .where(calls.c.operator_id.is_not(None), calls.c.started_at >= DAY)
            .where(calls.c.started_at < DAY + timedelta(days=1))
            .limit(1)
        )
        late, started = (await conn.execute(late_of)).one()
    await store.calls.update(late, operator_id=None, outcome="failed")
    read.clear()
    await _compare(store)  # the day's other intervals from their rows, this one raw
    assert not any(name.endswith("_days") for name, _ in read), read
    hour = instant_us(started) - instant_us(started) % HOUR_US
    assert ("report_call_hours", hours_read - 1) in read, read
    async with store.db.begin() as conn:  # the rows the rebuild must replace, made wrong
        days, hours_ = report_operator_days.c, report_call_hours.c
        await conn.execute(update(report_operator_days).values(rings=days.rings + 1))
        stale = update(report_call_hours).where(hours_.span_us == hour)
        await conn.execute(stale.values(calls=hours_.calls + 1))
    assert await rollups.build(T0 - timedelta(hours=2), T0 + timedelta(hours=40), NOW) == 1
    read.clear()
    await _compare(store)  # the day and the late call's hour written again
    assert ("report_operator_days", 1) in read and ("report_call_days", 1) in read


async def test_hours_are_not_read_by_time_in_a_zone_off_the_hour(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """India's +05:30: a local hour is not a UTC hour, so a report by hour, day or hour of
    the week reads the intervals (and equals the raw one); by line it reads the days."""
    await _fill(store, 7, 300)
    await _close_open_calls(store)
    await Rollups(store.db).build(T0 - timedelta(hours=2), T0 + timedelta(hours=40), NOW)
    read = _spy(monkeypatch)
    kolkata = ZoneInfo("Asia/Kolkata")
    for group in ("hour", "day", "hour_of_week", "line"):
        args: tuple[Any, ...] = (*PERIOD, kolkata, [group], TARGETS, 20.0, {})
        [raw] = await ReportSql(store.db).call_sums(*args)
        [rolled] = await RolledReportSql(store.db).call_sums(*args)
        assert rolled.sums.keys() == raw.sums.keys(), group
        for key, sums in raw.sums.items():
            _same_calls(rolled.sums[key], sums, f"{group} {key}")
        tables = {name for name, _ in read}
        by_line = {"report_intervals", "report_call_days"}
        assert tables == (by_line if group == "line" else {"report_intervals"}), (group, read)
        read.clear()


async def test_a_day_with_an_interval_not_built_has_no_day_rows(store: Store) -> None:
    """Open calls keep their intervals unbuilt, so their days are not whole."""
    await _fill(store, 6, 400)
    await Rollups(store.db).build(T0 - timedelta(hours=2), T0 + timedelta(hours=40), NOW)
    assert await _span_rows(store, report_operator_days) == []
    await _compare(store)
