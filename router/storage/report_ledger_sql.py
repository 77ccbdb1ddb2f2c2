"""The ledger's figures of a period summed by the database, as `report_sql` sums the
calls and rings: the operators' time in each state, the misses and callback tasks, the
callbacks each operator worked. Only sums and the values each percentile lies between
leave the database (the 1.6 million state changes of a busy clinic's year were half a
year's report when read as rows). The figures are made by the pure module
(`router.domain.reports`), and `tests/component/test_storage_report_sql.py` holds both ways
to the same figures.

- State spans: each change runs until the operator's next one (`LEAD(at)` per operator,
  in the order of `at`, then `id`), clipped to the period; the state in force at the
  period's start is the operator's last change before it (one index seek per operator)
  and counts from the start; a state still open counts to the period's end.
- Tasks: as `router.domain.reports.misses_report` is given them, those of the period's
  misses, those closed in it and every active one (the backlog), summed by
  `report_tasks_sql`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    case,
    exists,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.callbacks import MissSums
from router.domain.reports.operators import StateSums
from router.domain.reports.records import FALLBACK_MISS, MissRecord
from router.domain.reports.staffing import ON_DUTY
from router.storage.db import Database
from router.storage.report_facts_sql import epoch_us, instant_us
from router.storage.report_tasks_sql import task_sums
from router.storage.tables import calls, misses, operator_states

_s, _m = operator_states.c, misses.c


class LedgerSql:
    """Sums of a period's state changes, misses and tasks, taken by the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def state_sums(self, start: datetime, end: datetime) -> StateSums | None:
        """Microseconds per (operator, state, reason) within `[start, end)`; None while
        no state was ever recorded (before migration 0008)."""
        async with self._db.connect() as conn:
            if not await recorded(conn):
                return None
            return await range_state_sums(conn, self._db.dialect_name, start, end)

    async def duty_us(
        self, start: datetime, end: datetime, slots: Sequence[tuple[datetime, datetime, str]]
    ) -> dict[str, int] | None:
        """Microseconds on duty per hour of the week of `slots` (`staffing.hour_slots`
        of the period); None while no state was ever recorded."""
        async with self._db.connect() as conn:
            if not await recorded(conn):
                return None
            duty = await ranges_duty_us(conn, self._db.dialect_name, [(start, end)], slots)
        return {key: us for key, us in duty.items() if us}

    async def task_sums(
        self, start: datetime, end: datetime, now: datetime, overdue_after_s: float
    ) -> tuple[MissSums, dict[str, int]]:
        """The period's `miss_sums` and `callbacks_worked`, its tasks read once."""
        async with self._db.connect() as conn:
            return await task_sums(conn, self._db.dialect_name, (start, end), now, overdue_after_s)

    async def miss_sums(
        self, start: datetime, end: datetime, now: datetime, overdue_after_s: float
    ) -> MissSums:
        """Misses and tasks: those of the period's misses and every active one."""
        return (await self.task_sums(start, end, now, overdue_after_s))[0]

    async def callbacks_worked(self, start: datetime, end: datetime) -> dict[str, int]:
        """Tasks closed in the period, per operator who worked them (of the tasks
        `miss_sums` reads)."""
        return (await self.task_sums(start, end, end, 0.0))[1]

    async def fallback_misses(self, start: datetime, end: datetime) -> list[MissRecord]:
        """The fallback's misses of the period for calls the router never saw (no call
        row has their id, whenever it started: a call handed to the fallback at 23:59:50
        and missed there at 00:00:30 is the first day's call, not a second one the next
        day): offered calls of their own."""
        a_call = exists().where(calls.c.id == _m.call_id)
        stmt = select(
            _m.call_id, _m.reason, _m.missed_at, _m.waited_s, _m.line, _m.task_id, _m.anonymous
        ).where(_m.missed_at >= start, _m.missed_at < end, _m.reason == FALLBACK_MISS, ~a_call)
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [MissRecord(*r) for r in rows]


async def recorded(conn: AsyncConnection) -> bool:
    """Any state change recorded (none before migration 0008: the figures are unknown)."""
    return (await conn.execute(select(_s.id).limit(1))).first() is not None


async def range_state_sums(
    conn: AsyncConnection, dialect: str, start: datetime, end: datetime
) -> dict[tuple[str, str, str | None], int]:
    """Microseconds per (operator, state, reason) within `[start, end)`."""
    pairs = await latest_pairs(conn, start)
    rows = (await conn.execute(_state_sums(_spans(dialect, pairs, start, end)))).all()
    return {(r.operator_id, r.state, r.reason): int(r.us) for r in rows}


async def ranges_duty_us(
    conn: AsyncConnection,
    dialect: str,
    ranges: Sequence[tuple[datetime, datetime]],
    slots: Sequence[tuple[datetime, datetime, str]],
) -> dict[str, int]:
    """Microseconds on duty within these parts of a period per hour of the week of
    `slots` (the period's), zeros included. Commits the connection."""
    hours = [
        {"start_us": instant_us(a), "end_us": instant_us(b), "key": key} for a, b, key in slots
    ]
    out: dict[str, int] = {}
    # (DDL outside a transaction on SQLite: dropped and committed below)
    await conn.run_sync(lambda sync: _HOURS.create(sync, checkfirst=True))
    try:
        if hours:
            await conn.execute(_HOURS.insert(), hours)
        for start, end in ranges:
            pairs = await latest_pairs(conn, start)
            for r in (await conn.execute(_duty(_spans(dialect, pairs, start, end)))).all():
                out[r.key] = out.get(r.key, 0) + int(r.us or 0)
    finally:
        await conn.run_sync(lambda sync: _HOURS.drop(sync, checkfirst=True))
        await conn.commit()  # writes only the connection's own temporary table
    return out


def _operator_ids() -> Any:
    """Every operator with a state change, one index seek each on the unique key's
    leading `operator_id` (a recursive skip over it): not the `operators` table, whose
    rows the board writes, so an operator without one keeps its state across a period's
    start too (a period's sums must equal its parts' for the interval rollups), and not a
    DISTINCT, which reads every row ever written."""
    first = select(func.min(_s.operator_id).label("id")).cte("state_operators", recursive=True)
    after = select(func.min(_s.operator_id)).where(_s.operator_id > first.c.id)
    return first.union_all(select(after.scalar_subquery()).where(first.c.id.is_not(None)))


def latest_before(start: datetime) -> Select[Any]:
    """Each operator's latest state change before `start` (None: none): one index seek
    on (operator_id, at) per operator. A GROUP BY over the history would read every row
    ever written."""
    ops = _operator_ids()
    latest = (
        select(func.max(_s.at)).where(_s.operator_id == ops.c.id, _s.at < start).scalar_subquery()
    )
    return select(ops.c.id, latest.label("at")).where(ops.c.id.is_not(None))


async def latest_pairs(conn: AsyncConnection, start: datetime) -> list[tuple[str, datetime]]:
    """(operator, at) of each operator's latest change before `start`."""
    return [(r.id, r.at) for r in (await conn.execute(latest_before(start))).all() if r.at]


def changes(
    dialect: str, pairs: Sequence[tuple[str, datetime]], start: datetime, end: datetime
) -> Any:
    """The changes of `[start, end)` (by the `at` index) and the latest before it
    (`pairs`, by the unique key): (operator_id, state, reason, id, at in microseconds)."""
    columns = (_s.operator_id, _s.state, _s.reason, _s.id, epoch_us(dialect, _s.at).label("at"))
    parts = [select(*columns).where(_s.at >= start, _s.at < end)]
    if pairs:
        # an OR of equalities, one index seek each: SQLite scans the whole table for a
        # row-value IN (VALUES ...)
        each = (and_(_s.operator_id == op, _s.at == at) for op, at in pairs)
        parts.append(select(*columns).where(or_(*each)))
    return union_all(*parts)


def _spans(
    dialect: str, pairs: Sequence[tuple[str, datetime]], start: datetime, end: datetime
) -> Any:
    """`changes`, each a span to the operator's next change clipped to the period:
    (operator_id, state, reason, begin, stop) in microseconds."""
    ch = changes(dialect, pairs, start, end).subquery("changes").c
    nxt = func.lead(ch.at).over(partition_by=ch.operator_id, order_by=(ch.at, ch.id))
    ends = select(ch.operator_id, ch.state, ch.reason, ch.at, nxt.label("next")).subquery("ends")
    e = ends.c
    start_us, end_us = instant_us(start), instant_us(end)
    return select(
        e.operator_id,
        e.state,
        e.reason,
        case((e.at < start_us, start_us), else_=e.at).label("begin"),
        case((_open_or_after(e.next, end_us), end_us), else_=e.next).label("stop"),
    ).subquery("spans")


def _state_sums(spans: Any) -> Select[Any]:
    sp = spans.c
    us = case((sp.stop > sp.begin, sp.stop - sp.begin), else_=0)
    return select(sp.operator_id, sp.state, sp.reason, func.sum(us).label("us")).group_by(
        sp.operator_id, sp.state, sp.reason
    )


# The local hours of a period (`staffing.hour_slots`), for splitting the time on duty;
# private to the connection, dropped after the query.
_HOURS = Table(
    "report_hours",
    MetaData(),
    Column("start_us", BigInteger, primary_key=True),
    Column("end_us", BigInteger, nullable=False),
    Column("key", Text, nullable=False),
    prefixes=["TEMPORARY"],
)


def _duty(spans: Any) -> Select[Any]:
    """Time on duty per hour of the week: each on-duty span against the hours it
    overlaps, found by the hours' start (an hour is never longer than one: it starts
    within the hour before the span does)."""
    sp, h = spans.c, _HOURS.c
    begin = case((sp.begin > h.start_us, sp.begin), else_=h.start_us)
    stop = case((sp.stop < h.end_us, sp.stop), else_=h.end_us)
    return (
        select(h.key, func.sum(stop - begin).label("us"))
        .select_from(spans)
        .join(
            _HOURS,
            and_(
                h.start_us > sp.begin - _HOUR_US,
                h.start_us < sp.stop,
                h.end_us > sp.begin,
            ),
        )
        .where(sp.state.in_(ON_DUTY), sp.stop > sp.begin)
        .group_by(h.key)
    )


_HOUR_US = 3600 * 1_000_000


def _open_or_after(value: Any, bound: int) -> Any:
    """`value` is NULL (still open) or past `bound`."""
    return value.is_(None) | (value > bound)
