"""Operators' state seconds from the interval rollups (`report_state_intervals`,
`router/storage/report_state_rollup.py`, `report_state_read.py`) equal the raw sums
(`LedgerSql`) to the microsecond on SQLite and PostgreSQL: each interval's rows are its
raw sums alone, a period (off the grid, across Berlin's clock change, an operator paused
across many intervals, a state open at the end) reads its built intervals' rows and its
edges raw; the time on duty per local hour too (Berlin, Kolkata +05:30). A late state
change with an old `at` unmarks the intervals it changes (a duplicate, nothing),
a whole UTC day built is read from its day rows, written again when one of its
intervals is; the intervals built before migration 0014 are read raw and built again."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from report_support import BERLIN, CLOCK_CHANGE, T0, _fill
from sqlalchemy import func, literal_column, select, update
from storage_support import BACKENDS, migrated_store

from router.domain.operators import Presence
from router.domain.reports.intervals import DAY_US, INTERVAL_US
from router.domain.reports.staffing import hour_slots
from router.storage import Store, report_ledger_sql, report_state_read
from router.storage.journal import Journal, OperatorState
from router.storage.report_facts_sql import instant_us
from router.storage.report_ledger_sql import LedgerSql
from router.storage.report_rollup_sql import Rollups, floor_interval_us, lock_shared
from router.storage.report_state_read import RolledLedgerSql
from router.storage.tables import calls, report_rollups, report_state_days, report_state_intervals

PERIOD = (T0 + timedelta(minutes=7), T0 + timedelta(hours=36, minutes=5))  # off the grid
NOW = T0 + timedelta(days=3)
BUILD = (T0 - timedelta(hours=2), T0 + timedelta(hours=40))
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30: its hours start at half past in UTC


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


async def _state_rows(conn: Any) -> list[tuple[Any, ...]]:
    rows = (await conn.execute(select(report_state_intervals))).all()
    return sorted((tuple(r) for r in rows), key=repr)


async def _marks(store: Store) -> set[int]:
    async with store.db.connect() as conn:
        return set((await conn.execute(select(report_rollups.c.interval_us))).scalars())


async def _built(store: Store, seed: int, n: int) -> set[int]:
    """A generated history with its rollups built; the intervals built."""
    await _fill(store, seed, n)
    await Rollups(store.db).build(*BUILD, NOW)
    return await _marks(store)


@pytest.fixture
def raw_read(monkeypatch: pytest.MonkeyPatch) -> list[tuple[datetime, datetime]]:
    """The parts of a period the rolled state sums read raw."""
    asked: list[tuple[datetime, datetime]] = []
    real = report_ledger_sql.range_state_sums

    async def recorded(conn: Any, dialect: str, start: datetime, end: datetime) -> Any:
        asked.append((start, end))
        return await real(conn, dialect, start, end)

    monkeypatch.setattr(report_state_read, "range_state_sums", recorded)
    return asked


def _raw_length(asked: list[tuple[datetime, datetime]]) -> timedelta:
    return sum((b - a for a, b in asked), timedelta())


async def _same(store: Store, period: tuple[datetime, datetime] = PERIOD) -> None:
    raw, rolled = LedgerSql(store.db), RolledLedgerSql(store.db)
    assert await rolled.state_sums(*period) == await raw.state_sums(*period)
    for tz in (BERLIN, KOLKATA):
        slots = hour_slots(period, tz)
        assert await rolled.duty_us(*period, slots) == await raw.duty_us(*period, slots), tz


@pytest.mark.parametrize("seed", [1, 2])
async def test_state_seconds_from_the_rollups_are_the_raw_ones(
    store: Store, seed: int, raw_read: list[tuple[datetime, datetime]]
) -> None:
    await _fill(store, seed, 300)
    assert await Rollups(store.db).build(*BUILD, NOW) > 100
    await _same(store)
    # only the edges and the intervals not built (a call still open) were read raw
    assert timedelta(0) < _raw_length(raw_read) < timedelta(hours=6)
    # the period's own hand-made cases: a pause across the clock change, op4 paused
    # since days before, op9's wrap-up open at the end
    sums = await RolledLedgerSql(store.db).state_sums(*PERIOD)
    assert sums is not None
    assert sums[("op4", "paused", "lunch")] == instant_us(PERIOD[1]) - instant_us(PERIOD[0])
    assert sums[("op3", "paused", "lunch")] == 80 * 60 * 10**6
    assert sums[("op9", "wrap_up", None)] == 6 * 3600 * 10**6 + 5 * 60 * 10**6
    # periods on the grid, inside one interval, and within the clock change's hours
    for period in (
        (T0, T0 + timedelta(hours=30)),
        (T0 + timedelta(minutes=16), T0 + timedelta(minutes=29)),
        (CLOCK_CHANGE - timedelta(hours=1, minutes=1), CLOCK_CHANGE + timedelta(hours=2)),
    ):
        await _same(store, period)


async def test_each_interval_holds_the_raw_sums_of_that_interval_alone(store: Store) -> None:
    marks = await _built(store, 1, 200)
    t = report_state_intervals.c
    async with store.db.connect() as conn:
        rows = (
            await conn.execute(select(t.interval_us, t.operator_id, t.state, t.reason, t.us))
        ).all()
    stored: dict[int, dict[tuple[str, str, str | None], int]] = {}
    for k, op, state, reason, us in rows:
        stored.setdefault(k, {})[(op, state, reason)] = us
    assert len(marks) > 100 and set(stored) <= marks
    raw = LedgerSql(store.db)
    for k in sorted(marks):
        alone = await raw.state_sums(_from_us(k), _from_us(k + INTERVAL_US))
        assert stored.get(k, {}) == alone, _from_us(k)
    # zero keys are kept (two changes at one instant: the earlier one's span is empty)
    assert 0 in {us for sums in stored.values() for us in sums.values()}


async def test_a_late_state_change_unmarks_the_intervals_it_changes(
    store: Store, raw_read: list[tuple[datetime, datetime]]
) -> None:
    before = await _built(store, 3, 200)
    # op3 is paused for lunch from 30 minutes before the clock change to 50 after; a
    # batch arriving late says it was available from 20 minutes after: the spans change
    # from then to op3's next change
    late = CLOCK_CHANGE + timedelta(minutes=20, microseconds=1)
    following = CLOCK_CHANGE + timedelta(minutes=50)
    state = OperatorState("op3", Presence.AVAILABLE, None, late, None, 0)
    await Journal(store.db).apply([state])
    changed = {
        k for k in before if floor_interval_us(instant_us(late)) <= k <= instant_us(following)
    }
    assert len(changed) == 3
    assert before - await _marks(store) == changed
    await _same(store)  # the figures follow at once
    assert await Rollups(store.db).build(*BUILD, NOW) == len(changed)
    await _same(store)
    async with store.db.connect() as conn:
        rows_before = await _state_rows(conn)
    # the same change again (as the board saves a state on a change of its counters,
    # with the time the state began): the unique key keeps one row, nothing is unmarked
    marks = await _marks(store)
    await Journal(store.db).apply([state])
    assert await _marks(store) == marks
    await _same(store)
    assert await Rollups(store.db).build(*BUILD, NOW) == 0
    async with store.db.connect() as conn:
        rows_after = await _state_rows(conn)
    assert rows_after == rows_before
    # op4 has no change after its pause: a late one unmarks every interval from it on
    raw_read.clear()
    at = T0 + timedelta(hours=20, minutes=3)
    await Journal(store.db).apply([OperatorState("op4", Presence.OFFLINE, None, at, None, 0)])
    left = await _marks(store)
    assert left == {k for k in before if k < floor_interval_us(instant_us(at))}
    await _same(store)


async def test_a_state_change_at_about_now_unmarks_nothing(store: Store) -> None:
    before = await _built(store, 4, 100)
    at = BUILD[1] + timedelta(minutes=1)  # after every interval built
    await Journal(store.db).apply(
        [OperatorState(op, Presence.ON_CALL, None, at, None, 1) for op in ("op1", "op2")]
    )
    assert await _marks(store) == before


async def test_intervals_built_before_migration_0014_are_read_raw_and_built_again(
    store: Store, raw_read: list[tuple[datetime, datetime]]
) -> None:
    marks = await _built(store, 5, 200)
    async with store.db.begin() as conn:  # as the migration leaves them: no state rows
        await conn.execute(update(report_rollups).values(duty_us=None))
        await conn.execute(report_state_intervals.delete())
        await conn.execute(report_state_days.delete())
    await _same(store)
    assert raw_read == [PERIOD]
    assert await Rollups(store.db).build(*BUILD, NOW) == len(marks)
    raw_read.clear()
    await _same(store)
    assert _raw_length(raw_read) < timedelta(hours=6)


async def test_an_operator_without_a_board_row_keeps_its_state_across_a_periods_start(
    store: Store,
) -> None:
    """op9 (paused at T0 + 1 h, not in the operators table) is paused all of a later
    period: its state in force at the start counts, as every other operator's does (a
    period's sums are then its parts' sums)."""
    await _fill(store, 1, 10)
    period = (T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    sums = await LedgerSql(store.db).state_sums(*period)
    assert sums is not None and sums[("op9", "paused", "lunch")] == 3600 * 10**6
    spans = (await store.reports.ledger(*period)).spans
    assert spans is not None and any(s.operator_id == "op9" for s in spans)


async def _day_rows(store: Store) -> dict[tuple[Any, ...], int]:
    async with store.db.connect() as conn:
        rows = (await conn.execute(select(report_state_days))).all()
    return {tuple(r[:4]): r.us for r in rows}


async def _days_summed(store: Store) -> dict[tuple[Any, ...], int]:
    """The day rows as the intervals' rows of each whole day built sum to."""
    t = report_state_intervals.c
    day = t.interval_us - t.interval_us % literal_column(str(DAY_US))
    stmt = select(day, t.operator_id, t.state, t.reason, func.sum(t.us)).group_by(
        day, t.operator_id, t.state, t.reason
    )
    async with store.db.connect() as conn:
        rows = (await conn.execute(stmt)).all()
        marks = select(report_rollups.c.interval_us)
        built = set((await conn.execute(marks)).scalars())
    whole = {r[0] for r in rows if all(r[0] + i * INTERVAL_US in built for i in range(96))}
    return {tuple(r[:4]): int(r[4]) for r in rows if r[0] in whole}


async def test_a_whole_day_built_is_read_from_its_day_rows(
    store: Store, raw_read: list[tuple[datetime, datetime]]
) -> None:
    await _fill(store, 6, 300)
    async with store.db.begin() as conn:  # every call ended: every interval is built
        await conn.execute(
            update(calls).where(calls.c.ended_at.is_(None)).values(ended_at=BUILD[1])
        )
    await Rollups(store.db).build(*BUILD, NOW)
    day = datetime(2026, 10, 25, tzinfo=UTC)  # the clock change's UTC day, in PERIOD
    days = await _day_rows(store)
    assert {k[0] for k in days} == {instant_us(day)}
    assert days == await _days_summed(store)
    await _same(store)
    # the day rows are what is read: one changed by a microsecond shows
    async with store.db.begin() as conn:
        await conn.execute(update(report_state_days).values(us=report_state_days.c.us + 1))
    rolled = await RolledLedgerSql(store.db).state_sums(*PERIOD)
    assert rolled != await LedgerSql(store.db).state_sums(*PERIOD)
    await Rollups(store.db).build(*BUILD, NOW, rebuild=True)
    assert await _day_rows(store) == days
    # a late change within the day: its intervals are unmarked (the day is read from
    # the rest's rows and raw), and built again with the day's rows
    late = CLOCK_CHANGE + timedelta(minutes=20, microseconds=1)
    await Journal(store.db).apply([OperatorState("op3", Presence.AVAILABLE, None, late, None, 0)])
    await _same(store)
    assert await Rollups(store.db).build(*BUILD, NOW) == 3
    assert await _day_rows(store) == await _days_summed(store) != days
    await _same(store)


async def test_a_writers_share_of_the_lock_holds_sqlites_write_lock(tmp_path: Path) -> None:
    """On SQLite `lock_shared` takes the database's write lock at once (a write that
    changes nothing), so the journal reads the latest mark and the changes already there
    with no other process's build able to commit before its own write."""
    async with migrated_store("sqlite", tmp_path) as store:
        path = store.db.engine.url.database
        assert path is not None
        other = sqlite3.connect(path, timeout=0)
        try:
            async with store.db.begin() as conn:
                await lock_shared(conn, "sqlite")
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            other.execute("BEGIN IMMEDIATE")  # released at the commit
            other.rollback()
        finally:
            other.close()
