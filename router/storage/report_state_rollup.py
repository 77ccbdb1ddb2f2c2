"""The operators' state seconds of built intervals, written by the rollups' build
(`report_rollup_sql.Rollups`) with the calls' rows:

- `report_state_intervals`: per interval, operator, state and pause reason, the sums the
  raw spans give for that interval alone (`router.domain.reports.state_intervals`), from
  the same changes the raw sums read (`report_ledger_sql.changes`);
- `report_state_days`: the same summed over each UTC day all of whose 96 intervals are
  built, written again whenever one of them is (a year's report reads 365 days' rows,
  not 35,040 intervals' times every operator and state);
- `report_rollups.duty_us`: each interval's time on duty, all operators together (the
  staffing view's hours are unions of whole intervals).

A late state change unmarks the intervals it changes (`report_rollup_sql.mark_states_stale`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.intervals import runs_of
from router.domain.reports.staffing import ON_DUTY
from router.domain.reports.state_intervals import INTERVAL_US, Change, interval_state_sums
from router.storage.report_facts_sql import instant_us
from router.storage.report_ledger_sql import changes, latest_pairs
from router.storage.tables import report_rollups, report_state_days, report_state_intervals

DAY_US = 86_400 * 1_000_000
PER_DAY = DAY_US // INTERVAL_US


async def interval_state_rows(
    conn: AsyncConnection, dialect: str, runs: Sequence[tuple[datetime, datetime]]
) -> list[dict[str, object]]:
    """The rows of these runs of whole intervals: two statements a run (each
    operator's latest change before it, then its changes)."""
    rows: list[dict[str, object]] = []
    for start, end in runs:
        pairs = await latest_pairs(conn, start)
        read = (await conn.execute(changes(dialect, pairs, start, end))).all()
        found: list[Change] = [(r.operator_id, r.state, r.reason, r.id, int(r.at)) for r in read]
        sums = interval_state_sums(found, instant_us(start), instant_us(end))
        for (k, op, state, reason), us in sums.items():
            rows.append(
                {"interval_us": k, "operator_id": op, "state": state, "reason": reason, "us": us}
            )
    return rows


def duty_of(keys: Sequence[int], rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Each interval's time on duty, all operators together, of its rows."""
    duty = dict.fromkeys(keys, 0)
    for row in rows:
        if row["state"] in ON_DUTY:
            duty[row["interval_us"]] += row["us"]
    return duty


def day_of(interval_us: Any) -> Any:
    """The UTC day of an interval. The day's length inline, not a parameter: PostgreSQL
    matches a GROUP BY expression to the selected one by its text."""
    return interval_us - interval_us % literal_column(str(DAY_US))


def in_days(day_us: Any, days: Sequence[int]) -> Any:
    """`day_us` (a day's start or an interval's) within one of these sorted days."""
    runs = runs_of(days, DAY_US)
    return or_(*(and_(day_us >= low, day_us < high) for low, high in runs))


async def write_days(conn: AsyncConnection, keys: Sequence[int]) -> None:
    """The day rows of the UTC days of these intervals (just built and marked): summed
    again from their intervals' rows where all 96 are built, none where not."""
    days = sorted({k - k % DAY_US for k in keys})
    await conn.execute(delete(report_state_days).where(in_days(report_state_days.c.day_us, days)))
    m = report_rollups.c
    complete = (
        select(day_of(m.interval_us))
        .where(in_days(m.interval_us, days), m.duty_us.is_not(None))
        .group_by(day_of(m.interval_us))
        .having(func.count() == PER_DAY)
    )
    full = sorted((await conn.execute(complete)).scalars())
    if not full:
        return
    t = report_state_intervals.c
    day = day_of(t.interval_us)
    sums = (
        select(day, t.operator_id, t.state, t.reason, func.sum(t.us))
        .where(in_days(t.interval_us, full))
        .group_by(day, t.operator_id, t.state, t.reason)
    )
    columns = ["day_us", "operator_id", "state", "reason", "us"]
    await conn.execute(insert(report_state_days).from_select(columns, sums))
