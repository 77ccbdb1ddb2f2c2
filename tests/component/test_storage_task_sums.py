"""The misses' and tasks' sums taken by the database (`report_tasks_sql`: the period's
tasks read once into a temporary table, percentiles from per-second counts) equal the
pure module's on the records, on SQLite and PostgreSQL, where that way of taking them
could go wrong: a task both of the period's misses and active, read once; percentiles
whose two ranks lie in different seconds or among equal values; first attempts logged
before the miss (0, not negative); a single value."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from storage_support import BACKENDS, migrated_store

from router.domain.reports.callbacks import miss_sums
from router.domain.reports.operators import callbacks_worked
from router.storage import Store
from router.storage.report_ledger_sql import LedgerSql
from router.storage.report_tasks_sql import task_sums
from router.storage.tables import callback_tasks, misses

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
PERIOD = (T0, T0 + timedelta(days=1))
NOW = PERIOD[1] + timedelta(hours=1)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def _us(seconds: float) -> timedelta:
    return timedelta(microseconds=round(seconds * 1e6))


def _task(n: int, missed: datetime, **values: Any) -> dict[str, Any]:
    row = {
        "number_e164": f"+7916{n:07d}", "state": "closed", "reasons": ["abandoned"],
        "miss_count": 1, "first_missed_at": missed, "last_missed_at": missed,
        "due_at": missed, "created_at": missed, "attempts": 1, "keep_place": False,
        "priority": 0, "first_attempt_at": None, "closed_at": None, "close_reason": None,
        "closed_by": None, "attempt_operator_id": None,
    }  # fmt: skip
    return {**row, **values}


async def _insert(store: Store, tasks: list[dict[str, Any]], extra_misses: int = 0) -> None:
    """`tasks`, each with the miss that made it at its `first_missed_at`; the first
    `extra_misses` of them missed again an hour later (merged, and twice in the period)."""
    async with store.db.begin() as conn:
        made = await conn.execute(
            insert(callback_tasks).returning(callback_tasks.c.id, sort_by_parameter_order=True),
            tasks,
        )
        ids = made.scalars().all()
        rows = [
            {"call_id": f"c{i}", "reason": "abandoned", "waited_s": 1.0,
             "missed_at": t["first_missed_at"], "task_id": i, "anonymous": False}
            for i, t in zip(ids, tasks, strict=True)
        ]  # fmt: skip
        rows += [
            {**r, "call_id": f"{r['call_id']}-again", "missed_at": r["missed_at"] + _us(3600)}
            for r in rows[:extra_misses]
        ]
        await conn.execute(insert(misses), rows)


async def _both_ways(store: Store) -> Any:
    data = await store.reports.period(*PERIOD)
    sums, worked = await LedgerSql(store.db).task_sums(*PERIOD, NOW, 1800.0)
    assert sums == miss_sums(data.misses, data.tasks, PERIOD, NOW, 1800.0)
    assert worked == callbacks_worked(data.tasks, PERIOD)
    return sums


async def test_percentile_ranks_across_a_second_and_among_equal_values(store: Store) -> None:
    # reached after 5.000001, 5.999999, 6.0, 7.5 s: the p50's ranks (1, 2) lie in two
    # seconds, the p90's (2, 3) too; the first attempts' times are equal (ties) but one
    # logged 3 s before the miss, which counts as 0
    reach = (5.000001, 5.999999, 6.0, 7.5)
    lag = (2.25, 2.25, -3.0, 2.25)
    tasks = []
    for n, (r, a) in enumerate(zip(reach, lag, strict=True)):
        missed = T0 + timedelta(hours=1 + n, microseconds=123_457 * n)
        tasks.append(_task(
            n, missed, first_attempt_at=missed + _us(a), closed_at=missed + _us(r),
            close_reason="connected", attempt_operator_id=f"op{n % 2}",
        ))  # fmt: skip
    await _insert(store, tasks)
    sums = await _both_ways(store)
    assert sums.reached_p50_s == pytest.approx(5.9999995, abs=1e-9)
    assert sums.reached_p90_s == pytest.approx(6.0 + 1.5 * 0.7, abs=1e-9)
    assert sums.first_attempt_p50_s == 2.25


async def test_an_active_task_of_the_periods_misses_is_read_once(store: Store) -> None:
    old = T0 - timedelta(days=2)  # the backlog: made before the period, missed again in it
    tasks = [
        _task(1, T0 + _us(600.5), state="open", due_at=T0, first_attempt_at=T0 + _us(590)),
        _task(2, old, state="claimed", due_at=old),
        _task(3, T0 + _us(7200), first_attempt_at=T0 + _us(7201.75), closed_at=T0 + _us(9000),
              close_reason="done", closed_by="op7"),
    ]  # fmt: skip
    await _insert(store, tasks, extra_misses=1)  # task 1: twice in the period
    async with store.db.begin() as conn:  # task 2's miss in the period joined the old task
        await conn.execute(
            insert(misses),
            [{"call_id": "late", "reason": "no_operator", "waited_s": 0.5,
              "missed_at": T0 + _us(60), "task_id": 2, "anonymous": True}],
        )  # fmt: skip
    sums = await _both_ways(store)
    assert (sums.tasks_created, sums.open_now, sums.overdue_now, sums.merged) == (2, 2, 2, 2)
    assert sums.first_attempt_p50_s == 0.875  # 0 (attempt before the miss) and 1.75


async def test_a_single_value_is_every_percentile(store: Store) -> None:
    missed = T0 + _us(30.25)
    await _insert(store, [_task(1, missed, closed_at=missed + _us(42.000001),
                                close_reason="reached_operator")])  # fmt: skip
    sums = await _both_ways(store)
    assert sums.reached_p50_s == sums.reached_p90_s == 42.000001
    assert sums.first_attempt_p50_s is None


async def test_times_over_an_hour_and_a_day_in_coarser_buckets(store: Store) -> None:
    # counted per minute past an hour and per hour past a day: the p50's ranks (2, 3)
    # straddle the day, the first attempts' p50 the hour, the p90's lie hours apart
    reach = (3599.999999, 3600.000001, 86399.5, 88000.25, 90000.0, 400000.0)
    lag = (60.5, 3599.5, 3599.999999, 3630.5, 7200.25, 86400.5)
    tasks = []
    for n, (r, a) in enumerate(zip(reach, lag, strict=True)):
        missed = T0 + timedelta(minutes=10 * n, microseconds=7 * n)
        tasks.append(_task(
            n, missed, first_attempt_at=missed + _us(a), closed_at=missed + _us(r),
            close_reason="connected", attempt_operator_id="op1",
        ))  # fmt: skip
    await _insert(store, tasks)
    sums = await _both_ways(store)
    assert sums.reached_p50_s == pytest.approx((86399.5 + 88000.25) / 2, abs=1e-9)
    assert sums.reached_p90_s == pytest.approx(90000.0 + 310000.0 * 0.5, abs=1e-6)
    assert sums.first_attempt_p50_s == pytest.approx((3599.999999 + 3630.5) / 2, abs=1e-9)


@pytest.fixture(params=[b for b in BACKENDS if b.id == "postgresql"])
async def pg_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


async def test_postgresql_leaves_the_kept_table_empty(pg_store: Store) -> None:
    """The table stays on the connection: each report's rows must go with its commit,
    not stay in the file as dead rows every later report reads (temporary tables are
    never vacuumed)."""
    missed = T0 + _us(30.25)
    await _insert(pg_store, [_task(1, missed, closed_at=missed + _us(42), close_reason="done")])
    async with pg_store.db.connect() as conn:
        for _ in range(2):
            await task_sums(conn, "postgresql", PERIOD, NOW, 1800.0)
        size = await conn.execute(text("SELECT pg_relation_size('pg_temp.report_tasks')"))
        assert size.scalar_one() == 0
