"""What the console reads beside the live engine: today's calls, callback counts, a
number's history for the patient card, an operator's callback tasks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from router.domain.patient_card import MissFacts, TaskFacts
from router.domain.wallboard import CallbackCounts, CallOfToday, call_of_today
from router.storage.db import Database
from router.storage.tables import ACTIVE_TASK, call_events, callback_tasks, calls, misses


class ConsoleFigures:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def calls_since(self, since: datetime) -> list[CallOfToday]:
        """Every call that started at or after `since` (a clinic's day: a few thousand),
        with the queue it last waited for (its journey's `waiting` events)."""
        return list((await self.calls_by_id_since(since)).values())

    async def calls_by_id_since(self, since: datetime) -> dict[str, CallOfToday]:
        """`calls_since` by call id (the wallboard merges them with what it counted)."""
        stmt = select(
            calls.c.id, calls.c.line, calls.c.outcome, calls.c.started_at, calls.c.answered_at
        )
        stmt = stmt.where(calls.c.started_at >= since)
        e = call_events.c
        waits_stmt = (
            select(e.call_id, e.at, self._json_text(e.data, "for").label("waited_for"))
            .join(calls, calls.c.id == e.call_id)
            .where(calls.c.started_at >= since, e.kind == "waiting")
            .order_by(e.call_id, e.at, e.id)
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            wait_rows = (await conn.execute(waits_stmt)).all()
        waits: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for w in wait_rows:
            if isinstance(w.waited_for, str):
                waits[w.call_id].append((w.at, w.waited_for))
        return {
            row.id: call_of_today(
                row.line, row.outcome, row.started_at, row.answered_at, waits.get(row.id, ())
            )
            for row in rows
        }

    async def callbacks(self, now: datetime, overdue_after_s: float) -> CallbackCounts:
        """Active tasks, and those whose due time is more than `overdue_after_s` past."""
        late = now - timedelta(seconds=overdue_after_s)
        overdue = func.count().filter(callback_tasks.c.due_at < late)
        stmt = select(func.count(), overdue).where(text(ACTIVE_TASK)).select_from(callback_tasks)
        async with self._db.connect() as conn:
            row = (await conn.execute(stmt)).one()
        return CallbackCounts(open=int(row[0]), overdue=int(row[1]))

    async def callbacks_by_queue(
        self, now: datetime, overdue_after_s: float
    ) -> dict[str, CallbackCounts]:
        """`callbacks` per queue the missed call waited for (the task's target); tasks
        without a queue or skills target are left out."""
        t = callback_tasks.c
        late = now - timedelta(seconds=overdue_after_s)
        queue = self._json_text(t.target, "queue")
        overdue = func.count().filter(t.due_at < late)
        stmt = (
            select(queue.label("queue"), func.count(), overdue)
            .where(text(ACTIVE_TASK), queue.is_not(None))
            .group_by(queue)
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {
            r.queue: CallbackCounts(int(r[1]), int(r[2])) for r in rows if isinstance(r.queue, str)
        }

    def _json_text(self, column: Any, key: str) -> Any:
        """A text member of a JSON column, read by the database."""
        if self._db.dialect_name == "postgresql":
            return func.jsonb_extract_path_text(column, key)
        return func.json_extract(column, f"$.{key}")

    async def number_history(
        self, e164: str, limit: int = 10
    ) -> tuple[list[MissFacts], list[TaskFacts]]:
        """The number's latest misses and its active callback tasks (the patient card)."""
        misses_stmt = (
            select(misses.c.missed_at, misses.c.reason)
            .where(misses.c.number_e164 == e164)
            .order_by(misses.c.missed_at.desc())
            .limit(limit)
        )
        tasks_stmt = _TASK_COLUMNS.where(text(ACTIVE_TASK), callback_tasks.c.number_e164 == e164)
        async with self._db.connect() as conn:
            missed = (await conn.execute(misses_stmt)).all()
            tasks = (await conn.execute(tasks_stmt)).all()
        return [MissFacts(r.missed_at, r.reason) for r in missed], [_task(r) for r in tasks]

    async def operator_tasks(self, operator_id: str, limit: int = 20) -> list[TaskFacts]:
        """Active callback tasks meant for this operator or dialled by them now."""
        mine = (callback_tasks.c.preferred_operator_id == operator_id) | (
            callback_tasks.c.attempt_operator_id == operator_id
        )
        stmt = _TASK_COLUMNS.where(text(ACTIVE_TASK), mine).order_by(callback_tasks.c.due_at)
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt.limit(limit))).all()
        return [_task(r) for r in rows]

    async def last_answered(self, operator_id: str) -> AnsweredCall | None:
        """The operator's latest answered call (the note form after hang-up)."""
        stmt = (
            select(calls.c.id, calls.c.answered_at, calls.c.ended_at)
            .where(calls.c.operator_id == operator_id, calls.c.answered_at.is_not(None))
            .order_by(calls.c.answered_at.desc())
            .limit(1)
        )
        async with self._db.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else AnsweredCall(row.id, row.answered_at, row.ended_at)


_t = callback_tasks.c
_TASK_COLUMNS = select(_t.id, _t.reasons, _t.due_at, _t.attempts, _t.attempt_stage)


def _task(row: Any) -> TaskFacts:
    reasons = tuple(str(r) for r in row.reasons or ())
    return TaskFacts(int(row.id), reasons, row.due_at, row.attempts, row.attempt_stage)


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    id: str
    answered_at: datetime
    ended_at: datetime | None
