"""Pruning the history past its retention (`retention:` in router.yaml), in small batches.

Each batch is one short transaction that deletes at most `batch_rows` rows of a table,
picked by primary key, with a pause between batches: on SQLite, whose one writer is
also the journal's, a call's writes never wait behind more than one batch.

What is never deleted, whatever its age:
- a call not ended (a live or lost call the reconcile has not closed), and a call whose
  miss belongs to an open callback task (the task's history in the console);
- an open or claimed callback task, and the misses of one;
- each operator's last state change before the cutoff: it is their state at the start
  of every period still reported (pause and wrap-up spans that cross the cutoff).
A call's journey (`call_events`) and rings (`ring_attempts`) go with it (foreign keys
ON DELETE CASCADE), as a task's rings (`callback_rings`) go with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, and_, delete, exists, func, select, text
from sqlalchemy.sql.elements import ColumnElement

from router.storage.db import Database
from router.storage.tables import (
    ACTIVE_TASK,
    audit_log,
    callback_tasks,
    calls,
    misses,
    operator_states,
)

KINDS = ("calls", "callbacks", "operator_states", "audit_log")


@dataclass(frozen=True, slots=True)
class Plan:
    """Days kept per kind of `KINDS` (None: for ever), and the batching."""

    days: Mapping[str, int | None]
    batch_rows: int = 500
    pause_s: float = 0.1


def _old_calls(cutoff: datetime) -> ColumnElement[bool]:
    c = calls.c
    task_open = (
        select(misses.c.id)
        .join(callback_tasks, callback_tasks.c.id == misses.c.task_id)
        .where(misses.c.call_id == c.id, text("callback_tasks." + ACTIVE_TASK))
    )
    return and_(c.started_at < cutoff, c.ended_at.is_not(None), ~exists(task_open))


def _old_tasks(cutoff: datetime) -> ColumnElement[bool]:
    t = callback_tasks.c
    return and_(t.closed_at < cutoff, t.state.not_in(("open", "claimed")))


def _old_loose_misses(cutoff: datetime) -> ColumnElement[bool]:
    """Misses that made no task (withheld numbers, or the policy made none)."""
    return and_(misses.c.missed_at < cutoff, misses.c.task_id.is_(None))


def _old_states(cutoff: datetime) -> ColumnElement[bool]:
    s = operator_states.c
    later = operator_states.alias("later")
    # Older than this operator's last change before the cutoff (which is kept).
    last_before = (
        select(func.max(later.c.at))
        .where(later.c.operator_id == s.operator_id, later.c.at < cutoff)
        .scalar_subquery()
    )
    return and_(s.at < cutoff, s.at < last_before)


def _old_audit(cutoff: datetime) -> ColumnElement[bool]:
    return audit_log.c.at < cutoff


# What each kind deletes: (table, condition) in order (a task's misses before the task).
Step = tuple[Table, Callable[[datetime], ColumnElement[bool]]]
_STEPS: dict[str, tuple[Step, ...]] = {
    "calls": ((calls, _old_calls),),
    "callbacks": ((callback_tasks, _old_tasks), (misses, _old_loose_misses)),
    "operator_states": ((operator_states, _old_states),),
    "audit_log": ((audit_log, _old_audit),),
}


class Pruner:
    """Counts or deletes what is past its retention; one instance per database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def count(self, plan: Plan, now: datetime) -> dict[str, int]:
        """Rows each table would lose now (`--dry-run`), by table name."""
        counts: dict[str, int] = {}
        async with self._db.connect() as conn:
            for table, condition in _steps(plan, now):
                stmt = select(func.count()).select_from(table).where(condition)
                counts[table.name] = int((await conn.execute(stmt)).scalar_one())
        return counts

    async def prune(self, plan: Plan, now: datetime) -> dict[str, int]:
        """Deletes in batches what is past its retention; rows deleted, by table name
        (not counting the rows that went with them by cascade)."""
        deleted: dict[str, int] = {}
        for table, condition in _steps(plan, now):
            deleted[table.name] = 0
            while True:
                n = await self._batch(table, condition, plan.batch_rows)
                deleted[table.name] += n
                if n < plan.batch_rows:
                    break
                await asyncio.sleep(plan.pause_s)  # let the journal's writes in
        return deleted

    async def _batch(self, table: Table, condition: ColumnElement[bool], rows: int) -> int:
        key = table.c.id
        picked = select(key).where(condition).order_by(key).limit(rows)
        async with self._db.begin() as conn:
            if table is callback_tasks:  # their misses first: the ledger keeps none loose
                ids = [r[0] for r in (await conn.execute(picked)).all()]
                await conn.execute(delete(misses).where(misses.c.task_id.in_(ids)))
                result = await conn.execute(delete(table).where(key.in_(ids)))
            else:
                # A subquery rather than ids sent back and forth; SQLite and PostgreSQL
                # both take a LIMIT in it.
                result = await conn.execute(delete(table).where(key.in_(picked.scalar_subquery())))
        return int(result.rowcount)


def _steps(plan: Plan, now: datetime) -> list[tuple[Table, ColumnElement[bool]]]:
    out: list[tuple[Table, ColumnElement[bool]]] = []
    for kind in KINDS:
        days = plan.days.get(kind)
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        out += [(table, condition(cutoff)) for table, condition in _STEPS[kind]]
    return out


__all__ = ["KINDS", "Plan", "Pruner"]
