"""Rollups and retention on SQLite and PostgreSQL: no builder (the router's task,
`clinic-router report rollup [--rebuild]`) builds an interval older than the calls'
retention. Its calls may be pruned; a build from the few rows left (calls not ended, or
kept for an open task) would overwrite the sums built while they were all there, the
figures docs/reports.md promises a pruned period keeps."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import main_in_process
from report_support import BERLIN, T0, _fill
from sqlalchemy import Table, delete, func, select, update
from storage_support import BACKENDS, migrated_store

from router.config.retention_settings import RetentionSettings
from router.engine.rollups import kept_from, not_before, rollup_every
from router.storage import Store
from router.storage.report_facts_sql import instant_us
from router.storage.report_rollup_read import RolledReportSql
from router.storage.report_rollup_sql import Rollups
from router.storage.report_state_read import RolledLedgerSql
from router.storage.retention import Plan, Pruner
from router.storage.tables import (
    calls,
    report_call_days,
    report_call_hours,
    report_intervals,
    report_operator_days,
    report_operator_intervals,
    report_rollups,
    report_state_days,
    report_state_intervals,
)

ROLLUP_TABLES = (
    report_intervals,
    report_operator_intervals,
    report_state_intervals,
    report_state_days,
    report_call_hours,
    report_call_days,
    report_operator_days,
)
RETENTION = RetentionSettings(calls_days=31)
# 31 days and 12 hours after T0: the calls' cutoff is T0 + 12 h, amid the history
LATER = T0 + timedelta(days=31, hours=12)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def test_the_first_interval_kept_is_the_cutoff_rounded_up_to_the_grid() -> None:
    assert kept_from(None, LATER) is None
    assert kept_from(RetentionSettings(calls_days=None, operator_states_days=None,
                                       callbacks_days=None), LATER) is None  # fmt: skip
    assert kept_from(RETENTION, LATER) == T0 + timedelta(hours=12)
    # a cutoff inside an interval: that interval is part pruned, the next one is kept
    at = LATER + timedelta(minutes=1, microseconds=5)
    assert kept_from(RETENTION, at) == T0 + timedelta(hours=12, minutes=15)


async def _rows(store: Store, before: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """The rollups' rows (and marks) of the intervals before `before`, in a fixed order."""
    us = instant_us(before)
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with store.db.connect() as conn:
        for table in (*ROLLUP_TABLES, report_rollups):
            columns = [c for c in table.c if c.name != "built_at"]
            stmt = select(*columns).where(columns[0] < us)
            rows = (await conn.execute(stmt)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def _marks(store: Store) -> list[int]:
    async with store.db.connect() as conn:
        k = report_rollups.c.interval_us
        return list((await conn.execute(select(k).order_by(k))).scalars())


async def _count(store: Store, table: Table) -> int:
    async with store.db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _built_then_pruned(store: Store, seed: int, now: datetime) -> None:
    """The history's rollups built, then its calls and state changes older than 31 days
    at `now` pruned."""
    await _fill(store, seed, 300)
    rollups = Rollups(store.db)
    first = await rollups.first_call()
    assert first is not None
    assert await rollups.build(first, T0 + timedelta(hours=41), now) > 100
    calls_before = await _count(store, calls)
    plan = Plan({"calls": 31, "operator_states": 31}, batch_rows=500, pause_s=0)
    await Pruner(store.db).prune(plan, now)
    left = await _count(store, calls)
    assert 0 < left < calls_before  # some kept: not ended, or their miss's task is open


async def test_the_routers_task_leaves_the_pruned_intervals_sums_alone(store: Store) -> None:
    await _built_then_pruned(store, 6, LATER)
    cutoff = T0 + timedelta(hours=12)
    kept = await _rows(store, cutoff)
    assert kept["report_intervals"] and kept["report_rollups"]
    assert kept["report_state_intervals"]
    # late writes (a reconcile, a task closed) unmark intervals of any age: here all
    async with store.db.begin() as conn:
        await conn.execute(delete(report_rollups))
    task = asyncio.create_task(
        rollup_every(Rollups(store.db), lambda: LATER, RETENTION, first_s=0, every_s=0.01)
    )
    try:
        for _ in range(1200):  # the first pass builds from the cutoff to LATER
            marks = await _marks(store)
            if marks and marks[-1] >= instant_us(LATER - timedelta(minutes=30)):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    marks = await _marks(store)
    assert marks and marks[-1] >= instant_us(LATER - timedelta(minutes=30))
    assert marks[0] == instant_us(cutoff)  # the kept history is built again
    after = await _rows(store, cutoff)
    assert after["report_rollups"] == []  # the pruned intervals: not built again ...
    assert after["report_intervals"] == kept["report_intervals"]  # ... their sums stay
    assert after["report_operator_intervals"] == kept["report_operator_intervals"]
    assert after["report_state_intervals"] == kept["report_state_intervals"]


async def _seeded_and_pruned(url: str, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    store = await Store.open(url, migrate=True)
    try:
        await _built_then_pruned(store, 7, now)
        return await _rows(store, now)
    finally:
        await store.close()


async def _rows_of(url: str, before: datetime) -> dict[str, list[tuple[Any, ...]]]:
    store = await Store.open(url, migrate=True)
    try:
        return await _rows(store, before)
    finally:
        await store.close()


def test_a_rebuild_skips_the_intervals_past_retention_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report rollup --rebuild` from the first call stored (an old call kept for its
    open task): the command's own clock, so the whole October history is past 31 days."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    now = datetime.now(UTC)
    assert now - timedelta(days=31) > T0 + timedelta(hours=41)
    built = asyncio.run(_seeded_and_pruned(url, now))
    assert built["report_intervals"]
    (tmp_path / "rules.yaml").write_text("operators: []\n", encoding="utf-8")
    config = tmp_path / "router.yaml"
    config.write_text("retention:\n  calls_days: 31\n", encoding="utf-8")
    argv = ["report", "rollup", "--rebuild", "--tz", "UTC", "--to", f"{T0:%Y-%m-%d}"]
    done: subprocess.CompletedProcess[str] = main_in_process(
        [*argv, "--config", str(config)], {"CLINIC_ROUTER_DB_URL": url}, capsys, monkeypatch
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    said = done.stdout.splitlines()
    assert said[0].endswith(
        " are past retention.calls_days: not built (the sums built before stay)"
    )
    assert said[-1].split(": ")[-1].startswith("0 intervals built"), done.stdout
    assert asyncio.run(_rows_of(url, now)) == built


async def _pruned_figures(store: Store) -> tuple[dict[str, int], Any]:
    """The calls per hour and the state seconds of the pruned part of the history."""
    period = (T0 - timedelta(hours=2), T0 + timedelta(hours=12))
    [by_hour] = await RolledReportSql(store.db).call_sums(*period, BERLIN, ["hour"])
    states = await RolledLedgerSql(store.db).state_sums(*period)
    return {k: v.calls for k, v in by_hour.sums.items()}, states


async def _routers_pass(store: Store) -> None:
    rollups = Rollups(store.db)
    first = await rollups.first_call()
    assert first is not None
    await rollups.build(not_before(first, RETENTION, LATER), LATER, LATER)


@pytest.mark.parametrize("before", ["0014", "0015"])
async def test_a_pruned_period_keeps_its_figures_across_an_upgrade(
    store: Store, before: str
) -> None:
    """Intervals built before migration 0014 (no state seconds) or 0015 (no hours' and
    days' rows), then pruned: their calls' sums are still read after the upgrade, though
    no builder builds them again (found in review: 0015 first marked them unbuilt for
    every read, and the pruned period's calls went from 83 to 6)."""
    await _built_then_pruned(store, 6, LATER)
    calls_before, states_before = await _pruned_figures(store)
    async with store.db.begin() as conn:  # the marks and rows as such a database has them
        for table in (report_call_hours, report_call_days, report_operator_days):
            await conn.execute(delete(table))
        await conn.execute(delete(report_state_days))
        old = {"spans": False} if before == "0015" else {"spans": False, "duty_us": None}
        await conn.execute(update(report_rollups).values(**old))
    await _routers_pass(store)
    calls_after, states_after = await _pruned_figures(store)
    assert calls_after == calls_before and sum(calls_before.values()) > 50
    if before == "0015":  # (before 0014 the state seconds were never stored)
        assert states_after == states_before
