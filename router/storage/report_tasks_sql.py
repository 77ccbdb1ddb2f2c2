"""The misses' and callback tasks' figures of a period (`MissSums`, the callbacks each
operator worked), summed by the database as `router.domain.reports.callbacks.miss_sums`
and `operators.callbacks_worked` sum the records.

The period's tasks (those of its misses, those closed in it and every active one) are
read once into a table private to the connection, one row per task with what the sums
need of it (created in the period or not, worked in it by whom, the times from its first
miss to its first attempt and to its close in whole microseconds, each taken once), and
every sum is taken from there. Before, each sum read the tasks again and the
percentiles' window converted each time several times per task: the benchmark's year
(200,000 tasks, load 5) took 3.6 CPU s on SQLite (now 1.2-1.4) and 4.1-4.9 s on
PostgreSQL (now 1.2-1.6), the same sums. The percentiles come from `report_rank_sql`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    case,
    func,
    select,
    text,
    union,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateTable

from router.domain.callback_schedule import CloseReason
from router.domain.reports.callbacks import ACTIVE, REACHED, MissSums
from router.domain.reports.records import MissRecord
from router.storage.report_facts_sql import epoch_us
from router.storage.report_rank_sql import percentiles_of
from router.storage.tables import ACTIVE_TASK, callback_tasks, misses

_m, _t = misses.c, callback_tasks.c
# Closed by an operator's own work: the callback conversation's operator, or whoever
# closed it by hand. A patient who called in again was not worked by anyone.
BY_ATTEMPT = CloseReason.CONNECTED.value
BY_HAND = (CloseReason.DONE.value, CloseReason.CANCELLED.value, CloseReason.WRONG_NUMBER.value)

# The period's tasks, one row each: private to the connection (TEMPORARY); dropped after
# the sums on SQLite, kept on a PostgreSQL connection (`_keep_table`).
TASKS = Table(
    "report_tasks",
    MetaData(),
    Column("created", Boolean),  # created in the period
    Column("close_reason", Text),
    Column("attempts", Integer),
    Column("active", Boolean),
    Column("overdue", Boolean),
    Column("worker", Text),  # closed in the period by this operator's work
    # of those created in the period, microseconds from the first miss to the first
    # attempt (0 if logged before it), and of those reached to their close
    Column("lag_us", BigInteger),
    Column("reach_us", BigInteger),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
_k = TASKS.c


async def task_sums(
    conn: AsyncConnection,
    dialect: str,
    period: tuple[datetime, datetime],
    now: datetime,
    overdue_after_s: float,
) -> tuple[MissSums, dict[str, int]]:
    """The period's `MissSums` and callbacks worked per operator. Commits the
    connection (its temporary table's DDL and rows)."""
    start, end = period
    if dialect == "postgresql":
        await _keep_table(conn)
    else:  # (DDL outside a transaction on SQLite: dropped and committed below)
        await conn.run_sync(lambda sync: TASKS.create(sync, checkfirst=True))
    try:
        columns = [c.name for c in TASKS.columns]
        rows = task_rows(dialect, start, end, now - timedelta(seconds=overdue_after_s))
        await conn.execute(TASKS.insert().from_select(columns, rows))
        groups = (await conn.execute(_per_reason_and_worker())).all()
        p = await percentiles_of(
            conn,
            {"lag": _k.lag_us, "reach": _k.reach_us},
            {"lag": (50,), "reach": (50, 90)},
        )
        reasons = (await conn.execute(_misses(start, end))).all()
    finally:
        if dialect != "postgresql":
            await conn.run_sync(lambda sync: TASKS.drop(sync, checkfirst=True))
        # writes only the connection's own temporary table; on PostgreSQL the commit
        # empties it (rolled back, its rows would stay in the file as dead ones: no
        # autovacuum for temporary tables, each report reading all the ones before)
        await conn.commit()
    by_source: dict[str, int] = {}
    for r in reasons:
        source = MissRecord("", r.reason, start).source
        by_source[source] = by_source.get(source, 0) + r.n
    closed: dict[str, int] = {}
    worked: dict[str, int] = {}
    for g in groups:
        if g.close_reason and g.created:
            closed[g.close_reason] = closed.get(g.close_reason, 0) + g.created
        if g.worker:
            worked[g.worker] = worked.get(g.worker, 0) + g.n
    sums = MissSums(
        misses=sum(r.n for r in reasons),
        by_reason={r.reason: r.n for r in reasons},
        by_source=by_source,
        anonymous=sum(r.anonymous for r in reasons),
        without_task=sum(r.without_task for r in reasons),
        tasks_created=sum(g.created for g in groups),
        merged=sum(r.merged for r in reasons),
        closed=closed,
        reached=sum(g.reached for g in groups),
        attempts_connected=sum(int(g.attempts or 0) for g in groups),
        first_attempt_p50_s=p.get(("lag", 50)),
        reached_p50_s=p.get(("reach", 50)),
        reached_p90_s=p.get(("reach", 90)),
        open_now=sum(g.open for g in groups),
        overdue_now=sum(g.overdue for g in groups),
    )
    return sums, worked


async def _keep_table(conn: AsyncConnection) -> None:
    """PostgreSQL: the table is created once per database connection and kept, emptied
    by each commit (ON COMMIT DELETE ROWS). Created, checked and dropped per report, it
    made a day's sums slower than before the table (each statement planned and prepared
    anew on a new table, and more round trips)."""
    if conn.info.get(_KEPT):
        return
    await conn.execute(CreateTable(TASKS, if_not_exists=True))
    await conn.commit()
    conn.info[_KEPT] = True


_KEPT = "report_tasks_kept"  # in the database connection's info, which outlives a checkout


def task_rows(dialect: str, start: datetime, end: datetime, due_before: datetime) -> Select[Any]:
    """The rows of `TASKS`: the tasks of the period's misses, those closed in the period
    (the callbacks worked count when the work was done: a miss at 20:00 called back at
    09:05 the next day is the next day's) and the active ones, each by an index (the
    misses' `missed_at`, `closed_at`, the partial index of active tasks): an OR would
    read them all. A task in two of them is one row (UNION)."""
    of_misses = select(_m.task_id.label("id")).where(
        _m.missed_at >= start, _m.missed_at < end, _m.task_id.is_not(None)
    )
    closed_in = select(_t.id).where(_t.closed_at >= start, _t.closed_at < end)
    backlog = select(_t.id).where(text(ACTIVE_TASK))
    ids = union(of_misses, closed_in, backlog).subquery("task_ids")
    created = and_(_t.created_at >= start, _t.created_at < end)
    reached = and_(created, _t.close_reason.in_(REACHED), _t.closed_at.is_not(None))
    active = _t.state.in_(ACTIVE)
    closed_here = and_(_t.closed_at >= start, _t.closed_at < end)
    attempted = and_(created, _t.first_attempt_at.is_not(None))
    return (
        select(
            created.label("created"),
            _t.close_reason,
            _t.attempts,
            active.label("active"),
            and_(active, _t.due_at < due_before).label("overdue"),
            case(
                (and_(closed_here, _t.close_reason == BY_ATTEMPT), _t.attempt_operator_id),
                (and_(closed_here, _t.close_reason.in_(BY_HAND)), _t.closed_by),
            ).label("worker"),
            case((attempted, _since(dialect, _t.first_attempt_at))).label("lag_us"),
            case((reached, _since(dialect, _t.closed_at))).label("reach_us"),
        )
        .select_from(callback_tasks)
        .join(ids, ids.c.id == _t.id)
    )


def _since(dialect: str, at: Any) -> Any:
    """Microseconds from the task's first miss to `at` (not NULL), 0 if before it (a
    first attempt logged before the miss). The difference is taken once (a CASE would
    convert both timestamps twice on SQLite)."""
    us = epoch_us(dialect, at) - epoch_us(dialect, _t.first_missed_at)
    if dialect == "postgresql":
        return func.greatest(us, 0)
    return func.max(us, 0)  # SQLite's scalar max


def _per_reason_and_worker() -> Select[Any]:
    """The tasks' counts per close reason and worker: the totals, the closes (of those
    created in the period) and the callbacks worked in one pass, added up by the caller."""
    attempts = case((and_(_k.created, _k.close_reason == BY_ATTEMPT), _k.attempts))
    columns = [
        _k.close_reason,
        _k.worker,
        func.count().label("n"),
        func.count(case((_k.created, 1))).label("created"),
        func.count(_k.reach_us).label("reached"),
        func.sum(attempts).label("attempts"),
        func.count(case((_k.active, 1))).label("open"),
        func.count(case((_k.overdue, 1))).label("overdue"),
    ]
    return select(*columns).group_by(_k.close_reason, _k.worker)


def _misses(start: datetime, end: datetime) -> Select[Any]:
    """The period's misses per reason, and how many joined a task that existed before
    them (merged), in one pass."""
    return (
        select(
            _m.reason,
            func.count().label("n"),
            func.count(case((_m.anonymous, 1))).label("anonymous"),
            func.count(case((_m.task_id.is_(None), 1))).label("without_task"),
            func.count(case((_t.created_at < _m.missed_at, 1))).label("merged"),
        )
        .select_from(misses.outerjoin(callback_tasks, _t.id == _m.task_id))
        .where(_m.missed_at >= start, _m.missed_at < end)
        .group_by(_m.reason)
    )
