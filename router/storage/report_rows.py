"""A period's rows for the reports (`router.domain.reports`), read in a few queries.

Every query is driven by an indexed time column (`calls.started_at`, `misses.missed_at`)
and joins the journey tables through their `call_id` index, so a week of a busy clinic
reads in well under a second however long the history is. Only the journey events the
figures need are read (`waiting` for the queue and the start of the wait, `fallback`);
the rings come from `ring_attempts`, whose rows already hold each ring's result. State
spans come from `operator_states` (None while it holds nothing: before migration 0008).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, text

from router.domain.callback_schedule import CloseReason
from router.domain.reports import (
    CallRecord,
    MissRecord,
    ReportData,
    RingRecord,
    StateSpan,
    TaskRecord,
    journey_facts,
)
from router.storage.db import Database
from router.storage.tables import (
    ACTIVE_TASK,
    call_events,
    callback_tasks,
    calls,
    misses,
    operator_states,
    operators,
    ring_attempts,
)

_c, _t = calls.c, callback_tasks.c
Event = tuple[datetime, str, Mapping[str, Any]]
# Closed by an operator's own work: the callback conversation's operator, or whoever
# closed it by hand. A patient who called in again was not worked by anyone.
_BY_ATTEMPT = CloseReason.CONNECTED.value
_BY_HAND = {CloseReason.DONE.value, CloseReason.CANCELLED.value, CloseReason.WRONG_NUMBER.value}


class ReportRows:
    """Reads what `build_report` takes for the period `[start, end)`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def period(self, start: datetime, end: datetime) -> ReportData:
        in_period = (_c.started_at >= start, _c.started_at < end)
        async with self._db.connect() as conn:
            call_rows = (await conn.execute(_calls_stmt(*in_period))).all()
            ring_rows = (await conn.execute(_rings_stmt(*in_period))).all()
            event_rows = (await conn.execute(_events_stmt(*in_period))).all()
            miss_rows = (await conn.execute(_misses_stmt(start, end))).all()
            task_rows = (await conn.execute(_tasks_stmt(start, end))).all()
            state_rows = [
                row
                for stmt in _states_stmts(start, end)
                for row in (await conn.execute(stmt)).all()
            ]
            state_rows.sort(key=lambda r: (r.operator_id, r.at, r.id))
            recorded = (
                bool(state_rows)
                or (await conn.execute(select(operator_states.c.id).limit(1))).first() is not None
            )
        rings = [
            RingRecord(r.call_id, r.operator_id, r.started_at, r.result, r.duration_ms)
            for r in ring_rows
        ]
        journeys: dict[str, list[Event]] = defaultdict(list)
        for r in event_rows:
            journeys[r.call_id].append((r.at, r.kind, r.data))
        for ring in rings:
            journey = journeys[ring.call_id]
            journey.append((ring.started_at, "ringing", {}))
            journey.append((ring.started_at, "ring_result", {"result": ring.result}))
        return ReportData(
            calls=[_call(r, journeys.get(r.id, [])) for r in call_rows],
            rings=rings,
            misses=[_miss(r) for r in miss_rows],
            tasks=[_task(r) for r in task_rows],
            spans=_spans(state_rows) if recorded else None,
        )


def _calls_stmt(*where: Any) -> Select[Any]:
    return select(
        _c.id,
        _c.line,
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


def _events_stmt(*where: Any) -> Select[Any]:
    e = call_events.c
    return (
        select(e.call_id, e.at, e.kind, e.data)
        .join(calls, calls.c.id == e.call_id)
        .where(*where, e.kind.in_(("waiting", "fallback")))
        .order_by(e.call_id, e.at, e.id)
    )


def _misses_stmt(start: datetime, end: datetime) -> Select[Any]:
    m = misses.c
    return select(
        m.call_id, m.reason, m.missed_at, m.waited_s, m.line, m.task_id, m.anonymous
    ).where(m.missed_at >= start, m.missed_at < end)


def _tasks_stmt(start: datetime, end: datetime) -> Select[Any]:
    created = (_t.created_at >= start) & (_t.created_at < end)
    return select(
        _t.id, _t.state, _t.created_at, _t.first_missed_at, _t.due_at, _t.miss_count,
        _t.attempts, _t.line, _t.first_attempt_at, _t.closed_at, _t.close_reason,
        _t.closed_by, _t.attempt_operator_id,
    ).where(or_(created, text(ACTIVE_TASK)))  # fmt: skip


def _states_stmts(start: datetime, end: datetime) -> tuple[Select[Any], Select[Any]]:
    """Each operator's state changes in the period (by the `at` index), and the state
    each was in at its start: their latest change before it, looked up per operator (the
    `operators` table lists every one the board ever saved), an index seek on
    (operator_id, at) each. One query with OR, or a GROUP BY over the history, would read
    every row ever written."""
    s = operator_states.c
    columns = (s.operator_id, s.state, s.reason, s.at, s.id)
    in_period = select(*columns).where(s.at >= start, s.at < end)
    latest = (
        select(func.max(s.at))
        .where(s.operator_id == operators.c.id, s.at < start)
        .scalar_subquery()
    )
    before = select(operators.c.id.label("operator_id"), latest.label("at")).subquery()
    at_start = select(*columns).join(
        before, (s.operator_id == before.c.operator_id) & (s.at == before.c.at)
    )
    return at_start, in_period


def _spans(rows: Sequence[Any]) -> list[StateSpan]:
    """Consecutive changes of one operator make spans; the last one is still running."""
    spans: list[StateSpan] = []
    for i, r in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) else None
        end = (
            following.at
            if following is not None and following.operator_id == r.operator_id
            else None
        )
        spans.append(StateSpan(r.operator_id, r.state, r.at, end, r.reason))
    return spans


def _call(row: Any, journey: list[Event]) -> CallRecord:
    if row.outcome == "abandoned":
        journey.append((row.ended_at or row.started_at, "abandoned", {}))
    journey.sort(key=lambda event: event[0])  # stable: a ring's two events keep their order
    return CallRecord(
        row.id,
        row.started_at,
        row.outcome,
        line=row.line,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        operator_id=row.operator_id,
        known=row.patient_id is not None,
        facts=journey_facts(journey),
    )


def _miss(row: Any) -> MissRecord:
    return MissRecord(
        row.call_id, row.reason, row.missed_at, row.waited_s, row.line, row.task_id, row.anonymous
    )


def _task(row: Any) -> TaskRecord:
    worked_by = None
    if row.close_reason == _BY_ATTEMPT:
        worked_by = row.attempt_operator_id
    elif row.close_reason in _BY_HAND:
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
