"""The operators' state seconds and time on duty of a period from the interval rollups
(`report_state_rollup`) where its intervals are built: the stored rows of exactly the
built intervals the period's raw parts were cut by (`report_rollup_read.built_of`), a
whole UTC day's from its day rows, plus the raw sums of those parts (its edges, intervals
not settled or not built). Equal to the raw sums (`LedgerSql`) to the microsecond, keys
of zero included: an interval's rows are its raw sums alone
(`router.domain.reports.state_intervals`), a day's their sums."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.intervals import INTERVAL_US
from router.domain.reports.operators import StateSums
from router.storage.report_facts_sql import instant_us
from router.storage.report_ledger_sql import (
    LedgerSql,
    range_state_sums,
    ranges_duty_us,
    recorded,
)
from router.storage.report_rollup_read import built_of
from router.storage.report_rollup_spans import STATE_DAYS, in_spans, parts_of, spanned_of
from router.storage.report_rollup_sql import raw_ranges
from router.storage.tables import report_rollups

StateKey = tuple[str, str, str | None]


class RolledLedgerSql(LedgerSql):
    """`LedgerSql`'s sums, the state seconds from the rollups where they are built."""

    async def state_sums(self, start: datetime, end: datetime) -> StateSums | None:
        d = self._db.dialect_name
        async with self._db.snapshot() as conn:
            if not await recorded(conn):
                return None
            built = await built_of(conn, start, end, "states")
            out = await _stored_sums(conn, built)
            for low, high in raw_ranges(start, end, built):
                for key, us in (await range_state_sums(conn, d, low, high)).items():
                    out[key] = out.get(key, 0) + us
        return out

    async def duty_us(
        self, start: datetime, end: datetime, slots: Sequence[tuple[datetime, datetime, str]]
    ) -> dict[str, int] | None:
        async with self._db.snapshot() as conn:
            if not await recorded(conn):
                return None
            built = await built_of(conn, start, end, "states")
            slot_of = _slots_of(built, slots)
            if slot_of is None:  # an interval across two local hours: the zone is off grid
                built, slot_of = [], {}
            stored = await _stored_duty(conn, built)
            ranges = raw_ranges(start, end, built)
            duty = await ranges_duty_us(conn, self._db.dialect_name, ranges, slots)
        for k, us in stored.items():
            key = slot_of[k]
            duty[key] = duty.get(key, 0) + us
        return {key: us for key, us in duty.items() if us}


async def _stored_sums(conn: AsyncConnection, built: Sequence[int]) -> dict[StateKey, int]:
    """The built intervals' sums: of each whole UTC day among them its day rows, of
    the rest their own."""
    out: dict[StateKey, int] = {}
    for part in parts_of(built, STATE_DAYS, await spanned_of(conn, built)):
        await _add_sums(conn, out, part.table, part.where())
    return out


async def _add_sums(
    conn: AsyncConnection, into: dict[StateKey, int], table: Table, where: Any
) -> None:
    t = table.c
    stmt = (
        select(t.operator_id, t.state, t.reason, func.sum(t.us).label("us"))
        .where(where)
        .group_by(t.operator_id, t.state, t.reason)
    )
    for r in (await conn.execute(stmt)).all():
        key = (r.operator_id, r.state, r.reason)
        into[key] = into.get(key, 0) + int(r.us)


async def _stored_duty(conn: AsyncConnection, built: Sequence[int]) -> dict[int, int]:
    """Time on duty per built interval (of its mark)."""
    if not built:
        return {}
    m = report_rollups.c
    stmt = select(m.interval_us, m.duty_us).where(in_spans(m.interval_us, built))
    return {r.interval_us: int(r.duty_us or 0) for r in (await conn.execute(stmt)).all()}


def _slots_of(
    built: Sequence[int], slots: Sequence[tuple[datetime, datetime, str]]
) -> dict[int, str] | None:
    """Each built interval's hour of the week, None if one lies across two slots."""
    starts = [instant_us(a) for a, _, _ in slots]
    out = {}
    for k in built:
        i = bisect_right(starts, k) - 1
        if i < 0 or instant_us(slots[i][1]) < k + INTERVAL_US:
            return None
        out[k] = slots[i][2]
    return out
