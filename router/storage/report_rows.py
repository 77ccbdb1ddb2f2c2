"""A period's rows for the reports (`router.domain.reports`), read in a few queries.

Every query is driven by an indexed time column (`calls.started_at`, `misses.missed_at`)
and joins the journey tables through their `call_id` index, so a week of a busy clinic
reads in well under a second however long the history is. Only the journey events the
figures need are read (`waiting` for the queue and the start of the wait, `fallback`);
the rings come from `ring_attempts`, whose rows already hold each ring's result. State
spans come from `operator_states` (None while it holds nothing: before migration 0008).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Row, Select, and_, exists, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports import (
    DEFAULT_SL_TARGET_S,
    CallGroup,
    CallRecord,
    JourneyFacts,
    MissRecord,
    Report,
    ReportData,
    RingRecord,
    StateSpan,
    TaskRecord,
)
from router.domain.reports import report as pure
from router.domain.reports.callbacks import MissSums
from router.domain.reports.calls import CallSums
from router.domain.reports.operators import WRAP_UP, OperatorSums, StateSums, so_far
from router.domain.reports.records import abandoned_where
from router.domain.reports.report import PeriodSums
from router.domain.reports.staffing import StaffingSums, hour_slots
from router.storage.db import Database
from router.storage.report_facts_sql import call_line, json_text
from router.storage.report_ledger_sql import latest_before
from router.storage.report_rollup_read import RolledReportSql
from router.storage.report_sql import CallGroups
from router.storage.report_state_read import RolledLedgerSql
from router.storage.report_tasks_sql import BY_ATTEMPT, BY_HAND
from router.storage.tables import (
    ACTIVE_TASK,
    call_events,
    callback_tasks,
    calls,
    misses,
    operator_states,
    ring_attempts,
)

_c, _t = calls.c, callback_tasks.c


class ReportRows:
    """Reads what `build_report` takes for the period `[start, end)`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def period(self, start: datetime, end: datetime, *, ledger: bool = True) -> ReportData:
        """Every row of the period as records (`build_report`'s input; the reports
        themselves are summed by the database, see `report`). `ledger=False`: no misses
        nor tasks, for the what-if replay, which reads the calls, rings and states only."""
        in_period = (_c.started_at >= start, _c.started_at < end)
        async with self._db.connect() as conn:
            calls_of = _calls_stmt(self._db.dialect_name, *in_period)
            call_rows = (await conn.execute(calls_of)).all()
            ring_rows = (await conn.execute(_rings_stmt(*in_period))).all()
            events = _events_stmt(self._db.dialect_name, *in_period)
            event_rows = (await conn.execute(events)).all()
        rows = await self.ledger(start, end, misses_and_tasks=ledger)
        rings = [
            RingRecord(r.call_id, r.operator_id, r.started_at, r.result, r.duration_ms)
            for r in ring_rows
        ]
        # Each call's facts straight from its rows (a journey event list sorted per call
        # cost more than the figures themselves over a year).
        waits: dict[str, tuple[datetime, Any]] = {}
        fallback: set[str] = set()
        for r in event_rows:  # in time order per call: the first wait wins
            if r.kind == "fallback":
                fallback.add(r.call_id)
            elif r.call_id not in waits:
                waits[r.call_id] = (r.at, r.waited_for)
        first_ring: dict[str, datetime] = {}
        cancelled: set[str] = set()
        for ring in rings:
            if ring.call_id not in first_ring or ring.started_at < first_ring[ring.call_id]:
                first_ring[ring.call_id] = ring.started_at
            if ring.result == "cancelled":
                cancelled.add(ring.call_id)
        facts = _Facts(waits, first_ring, cancelled, fallback)
        return ReportData(
            calls=[facts.call(r) for r in call_rows],
            rings=rings,
            misses=rows.misses,
            tasks=rows.tasks,
            spans=rows.spans,
        )

    async def ledger(
        self, start: datetime, end: datetime, *, misses_and_tasks: bool = True
    ) -> ReportData:
        """The period's misses, their tasks, the tasks closed in it and the active ones,
        and the state spans (no calls, no rings)."""
        async with self._db.connect() as conn:
            miss_rows: Sequence[Row[Any]] = []
            task_rows: Iterable[Row[Any]] = []
            if misses_and_tasks:
                miss_rows = (await conn.execute(_misses_stmt(start, end))).all()
                task_rows = {
                    r.id: r for stmt in _tasks_stmts(start, end) for r in await _all(conn, stmt)
                }.values()
            latest = await _all(conn, latest_before(start))
            pairs = [(r.id, r.at) for r in latest if r.at is not None]
            state_rows = [
                (r.operator_id, r.at, r.id, r.state, r.reason)
                for stmt in _state_rows(pairs, start, end)
                for r in await _all(conn, stmt)
            ]
            state_rows.sort(key=lambda r: (r[0], r[1], r[2]))
            recorded = (
                bool(state_rows)
                or (await conn.execute(select(operator_states.c.id).limit(1))).first() is not None
            )
        return ReportData(
            calls=[],
            rings=[],
            misses=[_miss(r) for r in miss_rows],
            tasks=[_task(r) for r in task_rows],
            spans=_spans([(op, st, why, at) for op, at, _, st, why in state_rows])
            if recorded
            else None,
        )

    async def report(
        self,
        period: tuple[datetime, datetime],
        now: datetime,
        tz: tzinfo,
        *,
        group: CallGroup | None = None,
        sl_targets: Mapping[str, float] | None = None,
        default_sl_s: float = DEFAULT_SL_TARGET_S,
        overdue_after_s: float = 3600.0,
        branches: Mapping[str, str] | None = None,
    ) -> Report:
        """`build_report` of the period, summed by the database: the calls and rings
        (`report_sql`), the state spans, misses and tasks (`report_ledger_sql`). What a
        year's report needs; same arguments, same figures."""
        sums, _ = await self.sums(
            period, now, tz, group=group, sl_targets=sl_targets, default_sl_s=default_sl_s,
            overdue_after_s=overdue_after_s, branches=branches,
        )  # fmt: skip
        return await asyncio.to_thread(
            lambda: pure.report_of_sums(sums, period, tz, group=group, branches=branches)
        )

    async def staffing(
        self, period: tuple[datetime, datetime], tz: tzinfo, now: datetime | None = None
    ) -> StaffingSums:
        """What `staffing_of` needs of the period, summed by the database; the wrap-up up
        to `now` as in `sums` (`so_far`)."""
        by = await self._calls(period, tz, "hour_of_week")
        states = await RolledLedgerSql(self._db).state_sums(*so_far(period, now))
        return await self._staffing(period, tz, by, states)

    async def sums(
        self,
        period: tuple[datetime, datetime],
        now: datetime,
        tz: tzinfo,
        *,
        group: CallGroup | None = None,
        sl_targets: Mapping[str, float] | None = None,
        default_sl_s: float = DEFAULT_SL_TARGET_S,
        overdue_after_s: float = 3600.0,
        branches: Mapping[str, str] | None = None,
        staffing: bool = False,
    ) -> tuple[PeriodSums, StaffingSums | None]:
        """The report's sums and, with `staffing`, the staffing view's, the calls read
        once for both (the console's reports page shows both)."""
        (sums,), needs = await self.sums_by(
            period, now, tz, [group], sl_targets=sl_targets, default_sl_s=default_sl_s,
            overdue_after_s=overdue_after_s, branches=branches, staffing=staffing,
        )  # fmt: skip
        return sums, needs

    async def sums_by(
        self,
        period: tuple[datetime, datetime],
        now: datetime,
        tz: tzinfo,
        groups: Sequence[CallGroup | None],
        *,
        sl_targets: Mapping[str, float] | None = None,
        default_sl_s: float = DEFAULT_SL_TARGET_S,
        overdue_after_s: float = 3600.0,
        branches: Mapping[str, str] | None = None,
        staffing: bool = False,
    ) -> tuple[list[PeriodSums], StaffingSums | None]:
        """`sums` grouped each of `groups` ways (None: the total alone), the calls read
        once for all (the console's page: its table by the chosen grouping, its chart by
        hour); the operators, misses and tasks are the same in each."""
        start, end = period
        sql = RolledReportSql(self._db)
        read: list[CallGroup | None] = [None]
        extra: list[CallGroup | None] = ["hour_of_week" if staffing else None]
        for g in [*groups, *extra]:
            if g is not None and g not in read:
                read.append(g)
        # Two connections at once: the calls' sums (the longest part) beside the rest.
        taken, (operators, callbacks, states, missed, fallback) = await asyncio.gather(
            sql.call_sums(start, end, tz, read, sl_targets, default_sl_s, branches),
            self._ledger_sums(start, end, now, overdue_after_s),
        )
        by = dict(zip(read, taken, strict=True))
        sums = [
            PeriodSums(
                total=by[None].sums.get("total", CallSums()),
                groups=by[g].sums if g else {},
                first=by[g].first if g else {},
                operators=operators,
                callbacks=callbacks,
                states=states,
                misses=missed,
                fallback_misses=fallback,
            )
            for g in groups
        ]
        if not staffing:
            return sums, None
        return sums, await self._staffing(period, tz, by, states)

    async def _ledger_sums(
        self, start: datetime, end: datetime, now: datetime, overdue_after_s: float
    ) -> tuple[
        dict[str, OperatorSums], dict[str, int], StateSums | None, MissSums, list[MissRecord]
    ]:
        sql, ledger = RolledReportSql(self._db), RolledLedgerSql(self._db)
        missed, worked = await ledger.task_sums(start, end, now, overdue_after_s)
        return (
            await sql.operator_sums(start, end),
            worked,
            await ledger.state_sums(*so_far((start, end), now)),  # not into the future
            missed,
            await ledger.fallback_misses(start, end),
        )

    async def _calls(
        self, period: tuple[datetime, datetime], tz: tzinfo, group: CallGroup
    ) -> dict[CallGroup | None, CallGroups]:
        groups: list[CallGroup | None] = [None, group]
        taken = await RolledReportSql(self._db).call_sums(*period, tz, groups)
        return dict(zip(groups, taken, strict=True))

    async def _staffing(
        self,
        period: tuple[datetime, datetime],
        tz: tzinfo,
        by: Mapping[CallGroup | None, CallGroups],
        states: StateSums | None,
    ) -> StaffingSums:
        """`states`: the period's time in each state (`LedgerSql.state_sums`)."""
        wrap = sum(us for (_, state, _), us in (states or {}).items() if state == WRAP_UP)
        return StaffingSums(
            by_hour=by["hour_of_week"].sums,
            total=by[None].sums.get("total", CallSums()),
            wrap_up_us=wrap,
            duty_us=await RolledLedgerSql(self._db).duty_us(*period, hour_slots(period, tz)),
        )


async def _all(conn: AsyncConnection, stmt: Select[Any]) -> Sequence[Row[Any]]:
    rows: Sequence[Row[Any]] = (await conn.execute(stmt)).all()
    return rows


def _calls_stmt(dialect: str, *where: Any) -> Select[Any]:
    """The period's calls. Calls recorded before the line was written on the row have it
    only in their `arrived` event: read from there for those rows alone (COALESCE)."""
    return select(
        _c.id,
        call_line(dialect),
        _c.started_at,
        _c.answered_at,
        _c.ended_at,
        _c.outcome,
        _c.operator_id,
        _c.patient_id,
    ).where(*where)


def _rings_stmt(*where: Any) -> Select[Any]:
    r = ring_attempts.c
    return (
        select(r.call_id, r.operator_id, r.started_at, r.result, r.duration_ms)
        .join(calls, calls.c.id == r.call_id)
        .where(*where)
    )


def _events_stmt(dialect: str, *where: Any) -> Select[Any]:
    """Waits and fallbacks; of a wait only what it was for, read out of the JSON by the
    database (decoding each event's whole JSON in Python cost more than the figures)."""
    e = call_events.c
    waited_for = json_text(dialect, e.data, "for")
    return (
        select(e.call_id, e.at, e.kind, waited_for.label("waited_for"))
        .join(calls, calls.c.id == e.call_id)
        .where(*where, e.kind.in_(("waiting", "fallback")))
        .order_by(e.call_id, e.at, e.id)
    )


def _misses_stmt(start: datetime, end: datetime) -> Select[Any]:
    """The period's misses, each with whether its call has a row, whenever it started
    (`MissRecord.call_recorded`: one primary-key seek per miss)."""
    m = misses.c
    recorded = exists().where(_c.id == m.call_id)
    return select(
        m.call_id, m.reason, m.missed_at, m.waited_s, m.line, m.task_id, m.anonymous,
        recorded.label("call_recorded"),
    ).where(m.missed_at >= start, m.missed_at < end)  # fmt: skip


def _tasks_stmts(start: datetime, end: datetime) -> tuple[Select[Any], ...]:
    """The tasks of the period's misses (every task is created by a miss, so those created
    in the period are among them; `misses_report` keeps those by `created_at`), those
    closed in the period (an operator's callbacks worked count when the work was done,
    whenever the miss was) and the active ones (the backlog), each by an index: the
    misses' `missed_at`, `closed_at` and the partial index of active tasks. (`created_at`
    has no index; an OR would read every task.)"""
    columns = (
        _t.id, _t.state, _t.created_at, _t.first_missed_at, _t.due_at, _t.miss_count,
        _t.attempts, _t.line, _t.first_attempt_at, _t.closed_at, _t.close_reason,
        _t.closed_by, _t.attempt_operator_id,
    )  # fmt: skip
    m = misses.c
    of_misses = select(m.task_id).where(m.missed_at >= start, m.missed_at < end)
    return (
        select(*columns).where(_t.id.in_(of_misses.scalar_subquery())),
        select(*columns).where(_t.closed_at >= start, _t.closed_at < end),
        select(*columns).where(text(ACTIVE_TASK)),
    )


def _state_rows(
    pairs: Sequence[tuple[str, datetime]], start: datetime, end: datetime
) -> list[Select[Any]]:
    """The period's state changes (by the `at` index), and the given (operator, at) ones
    (by the unique key): two statements, as an OR of the two would read the whole table."""
    s = operator_states.c
    columns = (s.operator_id, s.state, s.reason, s.at, s.id)
    statements = [select(*columns).where(s.at >= start, s.at < end)]
    if pairs:  # an OR of equalities: SQLite scans the table for a row-value IN
        each = (and_(s.operator_id == op, s.at == at) for op, at in pairs)
        statements.append(select(*columns).where(or_(*each)))
    return statements


def _spans(rows: Sequence[tuple[str, str, str | None, datetime]]) -> list[StateSpan]:
    """Consecutive changes of one operator make spans; the last one is still running."""
    spans: list[StateSpan] = []
    following: Sequence[tuple[str, str, str | None, datetime] | None] = [*rows[1:], None]
    for (op, state, reason, at), nxt in zip(rows, following, strict=True):
        end = nxt[3] if nxt is not None and nxt[0] == op else None
        spans.append(StateSpan(op, state, at, end, reason))
    return spans


@dataclass(frozen=True, slots=True)
class _Facts:
    waits: dict[str, tuple[datetime, Any]]  # call -> its first wait: when, for what
    first_ring: dict[str, datetime]
    cancelled: set[str]  # a ring ended because the caller hung up
    fallback: set[str]

    def call(self, row: Any) -> CallRecord:
        """As `journey_facts` reads a journey: the same rule, from the rows read here."""
        waiting_at, queue = self.waits.get(row.id, (None, None))
        where = abandoned_where(
            row.outcome == "abandoned", row.id in self.cancelled, waiting_at is not None
        )
        facts = JourneyFacts(
            queue if isinstance(queue, str) else None,
            waiting_at,
            self.first_ring.get(row.id),
            row.id in self.fallback,
            where,
        )
        return CallRecord(
            row.id,
            row.started_at,
            row.outcome,
            line=row.line,
            answered_at=row.answered_at,
            ended_at=row.ended_at,
            operator_id=row.operator_id,
            known=row.patient_id is not None,
            facts=facts,
        )


def _miss(row: Any) -> MissRecord:
    return MissRecord(
        row.call_id, row.reason, row.missed_at, row.waited_s, row.line, row.task_id,
        row.anonymous, bool(row.call_recorded),
    )  # fmt: skip


def _task(row: Any) -> TaskRecord:
    worked_by = None
    if row.close_reason == BY_ATTEMPT:
        worked_by = row.attempt_operator_id
    elif row.close_reason in BY_HAND:
        worked_by = row.closed_by
    return TaskRecord(
        id=row.id,
        state=row.state,
        created_at=row.created_at,
        first_missed_at=row.first_missed_at,
        due_at=row.due_at,
        miss_count=row.miss_count,
        attempts=row.attempts,
        line=row.line,
        first_attempt_at=row.first_attempt_at,  # recorded since migration 0008
        closed_at=row.closed_at,
        close_reason=row.close_reason,
        worked_by=worked_by,
    )
