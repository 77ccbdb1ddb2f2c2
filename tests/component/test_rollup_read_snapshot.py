"""A rolled-up report reads its built intervals, then their rows and its raw edges, in
several statements: all of them see one snapshot of the database (`Database.snapshot`),
so a late write or a build committed in between (PostgreSQL READ COMMITTED, SQLite reads
outside a transaction) can neither drop a day's or an interval's figures nor fail the
report. Each case commits such a change between the built list and the rows (found in
review: 123 rings of 353, 212,220 state seconds of 644,220, 84,163 s on duty of 307,462,
a KeyError for calls)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from report_support import BERLIN, T0, _fill
from sqlalchemy import delete
from storage_support import BACKENDS, migrated_store
from test_storage_report_rollup import _close_open_calls

from router.domain.reports.staffing import hour_slots
from router.storage import Store, report_rollup_read, report_state_read
from router.storage.report_facts_sql import instant_us
from router.storage.report_ledger_sql import LedgerSql
from router.storage.report_rollup_read import RolledReportSql
from router.storage.report_rollup_sql import Rollups
from router.storage.report_sql import ReportSql
from router.storage.report_state_read import RolledLedgerSql
from router.storage.tables import report_rollups

PERIOD = (T0 + timedelta(minutes=7), T0 + timedelta(hours=36, minutes=5))
NOW = T0 + timedelta(days=3)
BUILD = (T0 - timedelta(hours=2), T0 + timedelta(hours=40))
X = T0 + timedelta(hours=10)  # 25 October 06:00 UTC
Y = T0 + timedelta(hours=20)  # 25 October 16:00 UTC


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


async def _built_history(store: Store) -> None:
    await _fill(store, 6, 400)
    await _close_open_calls(store)  # every interval built: whole hours and days
    await Rollups(store.db).build(*BUILD, NOW)


async def _late_write_and_a_build(store: Store) -> None:
    """Two intervals of 25 October unmarked (a late write), one built again (a build
    pass's first chunk): the day is no longer whole, so its rows are deleted."""
    k = report_rollups.c.interval_us
    async with store.db.begin() as writer:
        await writer.execute(delete(report_rollups).where(k.in_([instant_us(X), instant_us(Y)])))
    await Rollups(store.db).build(X, X + timedelta(minutes=15), NOW)


def _after_built_list(monkeypatch: pytest.MonkeyPatch, module: Any, change: Any) -> None:
    """`change` commits right after the report has read its built list."""
    original = module.built_of

    async def built_then_changed(conn: Any, start: Any, end: Any, *of: Any) -> list[int]:
        built: list[int] = await original(conn, start, end, *of)
        await change()
        return built

    monkeypatch.setattr(module, "built_of", built_then_changed)


async def test_operators_figures(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await _built_history(store)
    raw = await ReportSql(store.db).operator_sums(*PERIOD)
    _after_built_list(monkeypatch, report_rollup_read, lambda: _late_write_and_a_build(store))
    rolled = await RolledReportSql(store.db).operator_sums(*PERIOD)
    rings = [sum(sum(o.results.values()) for o in s.values()) for s in (raw, rolled)]
    assert rings[0] == rings[1] > 100


async def test_state_seconds(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await _built_history(store)
    raw = await LedgerSql(store.db).state_sums(*PERIOD)
    _after_built_list(monkeypatch, report_state_read, lambda: _late_write_and_a_build(store))
    assert await RolledLedgerSql(store.db).state_sums(*PERIOD) == raw


async def test_time_on_duty(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await _fill(store, 1, 300)
    await Rollups(store.db).build(*BUILD, NOW)
    slots = hour_slots(PERIOD, BERLIN)
    raw = await LedgerSql(store.db).duty_us(*PERIOD, slots)

    async def late_state_change() -> None:  # unmarks every interval after it
        k = report_rollups.c.interval_us
        async with store.db.begin() as writer:
            await writer.execute(delete(report_rollups).where(k >= instant_us(X)))

    _after_built_list(monkeypatch, report_state_read, late_state_change)
    assert await RolledLedgerSql(store.db).duty_us(*PERIOD, slots) == raw


async def test_calls_between_histograms_and_sums(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _built_history(store)
    args: tuple[Any, ...] = (*PERIOD, BERLIN, [None], {}, 20.0, {})
    [raw] = await ReportSql(store.db).call_sums(*args)
    real = report_rollup_read.merged_hists
    changed: list[bool] = []

    async def hists_then_changed(conn: Any, parts: Any, of_row: Any) -> Any:
        out = await real(conn, parts, of_row)
        if not changed:
            changed.append(True)
            await _late_write_and_a_build(store)
        return out

    monkeypatch.setattr(report_rollup_read, "merged_hists", hists_then_changed)
    [rolled] = await RolledReportSql(store.db).call_sums(*args)
    assert changed
    assert rolled.sums["total"].calls == raw.sums["total"].calls > 300
