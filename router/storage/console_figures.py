"""What the console reads beside the live engine: today's calls, callback counts, a
number's history for the patient card, an operator's callback tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from router.domain.patient_card import MissFacts, TaskFacts
from router.domain.wallboard import CallbackCounts, CallOfToday
from router.storage.db import Database
from router.storage.tables import ACTIVE_TASK, callback_tasks, calls, misses


class ConsoleFigures:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def calls_since(self, since: datetime) -> list[CallOfToday]:
        """Every call that started at or after `since` (a clinic's day: a few thousand)."""
        stmt = select(calls.c.line, calls.c.outcome, calls.c.started_at, calls.c.answered_at)
        stmt = stmt.where(calls.c.started_at >= since)
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            CallOfToday(
                row.line,
                row.outcome,
                (row.answered_at - row.started_at).total_seconds() if row.answered_at else None,
            )
            for row in rows
        ]

    async def callbacks(self, now: datetime, overdue_after_s: float) -> CallbackCounts:
        """Active tasks, and those whose due time is more than `overdue_after_s` past."""
        late = now - timedelta(seconds=overdue_after_s)
        overdue = func.count().filter(callback_tasks.c.due_at < late)
        stmt = select(func.count(), overdue).where(text(ACTIVE_TASK)).select_from(callback_tasks)
        async with self._db.connect() as conn:
            row = (await conn.execute(stmt)).one()
        return CallbackCounts(open=int(row[0]), overdue=int(row[1]))

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

    async def call_back_now(self, task_id: int, now: datetime) -> bool:
        """An active task becomes due now (the dispatcher dials it when an operator is
        free); False when it is not active."""
        stmt = (
            update(callback_tasks)
            .where(callback_tasks.c.id == task_id, text(ACTIVE_TASK))
            .values(due_at=now)
        )
        async with self._db.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1


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
