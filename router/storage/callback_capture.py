"""Recording a missed call: the miss row, and the number's active callback task.

One transaction per miss. The partial unique index on active tasks' numbers is what makes
it safe with several routers: two misses of one number cannot both insert a task; the
later insert does nothing and joins (locks, then updates) the task the other created.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.callback_schedule import CloseReason, TaskState, state_after_close
from router.domain.miss_target import MissTarget, merged
from router.domain.phone import is_e164
from router.storage.models import MissInput, MissResult
from router.storage.tables import ACTIVE_TASK, callback_tasks, dialect_insert, misses

_RACE_ROUNDS = 20
_tasks = callback_tasks.c
# Spelt exactly as the partial index's WHERE: SQLite uses the index as an ON CONFLICT
# target only when the upsert's WHERE is the index's, term for term.
ACTIVE = text(ACTIVE_TASK)

# A patient who got through closes their active task (either of its numbers). Built once:
# it runs on every answered call, inside the journal's batch.
CLOSE_FOR_NUMBER = (
    update(callback_tasks)
    .where(
        or_(
            callback_tasks.c.number_e164 == bindparam("p_number"),
            callback_tasks.c.callback_number == bindparam("p_number"),
        ),
        ACTIVE,
    )
    .values(
        state=bindparam("p_state"),
        close_reason=bindparam("p_reason"),
        closed_at=bindparam("p_at"),
        closed_by=None,
        closed_call_id=bindparam("p_call_id"),
        # as every closing: no attempt runs on a closed task
        attempt_started_at=None,
        attempt_stage=None,
        claimed_by=None,
        claimed_at=None,
    )
)


def close_for_number_params(
    number_e164: str, reason: CloseReason | str, at: datetime, call_id: str | None
) -> dict[str, Any]:
    """The parameters of `CLOSE_FOR_NUMBER`."""
    close = CloseReason(reason)
    return {
        "p_number": number_e164,
        "p_state": state_after_close(close).value,
        "p_reason": close.value,
        "p_at": at,
        "p_call_id": call_id,
    }


def _place(miss: MissInput) -> datetime:
    if miss.place_at is not None and miss.place_at < miss.missed_at:
        return miss.place_at
    return miss.missed_at


def check_miss(miss: MissInput) -> None:
    """Refuse a miss the ledger must not hold, before anything is written (`ValueError`)."""
    if not miss.call_id:
        raise ValueError("a miss needs the call's id")
    if not miss.reason or len(miss.reason) > 40:
        raise ValueError(f"miss reason must be 1-40 characters, got {miss.reason!r}")
    if not math.isfinite(miss.waited_s) or miss.waited_s < 0:
        raise ValueError(f"waited_s must be a finite number of seconds, got {miss.waited_s}")
    for number in (miss.number_e164, miss.callback_number):
        if number is not None and not is_e164(number):
            raise ValueError(f"{number!r} is not an E.164 number")


async def record_miss(conn: AsyncConnection, miss: MissInput, created_at: datetime) -> MissResult:
    """Record `miss` in the transaction of `conn` (see `CallbacksRepo.record_miss`)."""
    anonymous = miss.number_e164 is None
    row = {
        "call_id": miss.call_id,
        "line": miss.line,
        "number_e164": miss.number_e164,
        "patient_id": miss.patient_id,
        "reason": miss.reason,
        "waited_s": float(miss.waited_s),
        "missed_at": miss.missed_at,
        "anonymous": anonymous,
    }
    stmt = dialect_insert(conn.dialect.name, misses).values(row)
    once = stmt.on_conflict_do_nothing(index_elements=["call_id"])
    miss_id = (await conn.execute(once.returning(misses.c.id))).scalar()
    if miss_id is None:
        return await _earlier_result(conn, miss.call_id)
    if anonymous or not miss.create_task:
        return MissResult(miss_id, None, created=False, miss_count=0)
    task_id, count = await _open_or_join(conn, miss, created_at)
    await conn.execute(update(misses).where(misses.c.id == miss_id).values(task_id=task_id))
    return MissResult(miss_id, task_id, created=count == 1, miss_count=count)


async def _open_or_join(
    conn: AsyncConnection, miss: MissInput, created_at: datetime
) -> tuple[int, int]:
    # On PostgreSQL (READ COMMITTED: each statement sees the latest commits) the active
    # task the insert collided with may close before we lock it; then try again. On
    # SQLite the transaction holds the write lock, so the first round always settles.
    for _ in range(_RACE_ROUNDS):
        task_id = await _insert_task(conn, miss, created_at)
        if task_id is not None:
            return task_id, 1
        joined = await _join_task(conn, miss)
        if joined is not None:
            return joined
    raise RuntimeError(f"could not record the miss of call {miss.call_id!r}: kept racing")


async def _insert_task(conn: AsyncConnection, miss: MissInput, created_at: datetime) -> int | None:
    place = _place(miss)
    stmt = dialect_insert(conn.dialect.name, callback_tasks).values(
        number_e164=miss.number_e164,
        patient_id=miss.patient_id,
        line=miss.line,
        state=TaskState.OPEN.value,
        reasons=[miss.reason],
        miss_count=1,
        first_missed_at=place,
        last_missed_at=miss.missed_at,
        priority=0,
        due_at=miss.due_at or miss.missed_at,
        preferred_operator_id=miss.preferred_operator_id,
        callback_number=miss.callback_number,
        keep_place=miss.keep_place,
        created_at=created_at,
        target=_json(miss.target),
    )
    # The conflict target names the partial index: both backends need its WHERE.
    stmt = stmt.on_conflict_do_nothing(index_elements=[_tasks.number_e164], index_where=ACTIVE)
    inserted = (await conn.execute(stmt.returning(_tasks.id))).scalar()
    return None if inserted is None else int(inserted)


async def _join_task(conn: AsyncConnection, miss: MissInput) -> tuple[int, int] | None:
    # FOR UPDATE: a concurrent miss of the same number waits here, then reads our count.
    stmt = (
        select(callback_tasks)
        .where(_tasks.number_e164 == miss.number_e164, ACTIVE)
        .with_for_update()
    )
    found = (await conn.execute(stmt)).first()
    if found is None:  # closed since the insert saw it
        return None
    task = found._mapping
    due = miss.due_at or miss.missed_at
    values: dict[str, Any] = {
        "miss_count": task["miss_count"] + 1,
        "last_missed_at": max(task["last_missed_at"], miss.missed_at),
        "first_missed_at": min(task["first_missed_at"], _place(miss)),
        "reasons": list(dict.fromkeys([*task["reasons"], miss.reason])),
        "priority": task["priority"] + miss.priority_raise,
        "patient_id": task["patient_id"] or miss.patient_id,
        "line": task["line"] or miss.line,
        "keep_place": task["keep_place"] or miss.keep_place,
        "callback_number": miss.callback_number or task["callback_number"],
        "preferred_operator_id": task["preferred_operator_id"] or miss.preferred_operator_id,
        "target": _json(merged(MissTarget.from_json(task["target"]), miss.target)),
    }
    if task["state"] == TaskState.OPEN and due < task["due_at"]:
        values["due_at"] = due  # they keep trying: a retry waiting hours comes forward
    await conn.execute(update(callback_tasks).where(_tasks.id == task["id"]).values(values))
    return int(task["id"]), values["miss_count"]


def _json(target: MissTarget | None) -> dict[str, Any] | None:
    return None if target is None else target.to_json()


async def _earlier_result(conn: AsyncConnection, call_id: str) -> MissResult:
    stmt = (
        select(misses.c.id, misses.c.task_id, _tasks.miss_count)
        .outerjoin(callback_tasks, _tasks.id == misses.c.task_id)
        .where(misses.c.call_id == call_id)
    )
    row = (await conn.execute(stmt)).one()
    return MissResult(row.id, row.task_id, False, row.miss_count or 0, duplicate=True)
