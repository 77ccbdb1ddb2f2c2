"""The callback ledger: every missed call, and the callback tasks worked from them.

Exactly once, with any number of routers on one database:
- one active task per number is the partial unique index `uq_callback_tasks_active_number`,
  so concurrent misses of one number meet on it and the later one updates the task;
- `claim_due` hands each due task to one dispatcher (`FOR UPDATE SKIP LOCKED` on
  PostgreSQL; one conditional UPDATE on SQLite, whose writers are serialised anyway);
- a claim whose dispatcher went silent is taken over after a lease, but only while no
  attempt was started: `start_attempt` is recorded before dialling, fenced by the claim,
  so a task is never dialled twice by two routers. Tasks whose attempt was interrupted
  (a router died mid-dial) are listed by `interrupted` for the engine to resolve.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update

from router.domain.callback_attempt import AttemptStage
from router.domain.callback_schedule import (
    AttemptOutcome,
    CloseReason,
    TaskState,
    state_after_close,
    uses_an_attempt,
)
from router.domain.miss_target import MissTarget
from router.storage.callback_capture import (
    ACTIVE,
    CLOSE_FOR_NUMBER,
    check_miss,
    close_for_number_params,
    record_miss,
)
from router.storage.callback_figures import summarise
from router.storage.db import Database
from router.storage.models import CallbackSummary, CallbackTask, MissInput, MissResult, MissRow
from router.storage.tables import ACTIVE_TASK, callback_tasks, misses

MAX_PAGE = 500
_tasks = callback_tasks.c
_CLOSE_RETURNING = CLOSE_FOR_NUMBER.returning(_tasks.id)
DispatchKey = tuple[int, datetime, int]  # (-priority, first_missed_at, id): dispatch order


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TaskClosedError(Exception):
    """The task is no longer open: it cannot be cancelled or marked done again."""

    def __init__(self, task: CallbackTask) -> None:
        super().__init__(f"callback {task.id} is already {task.state}")
        self.task = task


class CallbacksRepo:
    """Misses and callback tasks. Each method is one short transaction."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._db = db
        self._clock = clock
        self._task_listeners: builtins.list[Callable[[], None]] = []

    # --- capture -------------------------------------------------------------------

    async def record_miss(self, miss: MissInput) -> MissResult:
        """Record a missed call; open a task for its number or join the active one.

        Idempotent per `call_id` (a retried write returns the first result with
        `duplicate=True`). Concurrent misses of one number yield one task.
        """
        check_miss(miss)
        async with self._db.begin() as conn:
            result = await record_miss(conn, miss, self._clock())
        if result.task_id is not None and not result.duplicate:
            self._tell_listeners()
        return result

    def _tell_listeners(self) -> None:
        for listener in self._task_listeners:
            listener()  # committed: a dispatcher may claim it now

    def add_task_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after each miss that opened or joined a task, and after a
        task was made due now (the dispatcher wakes at once instead of at its next poll)."""
        self._task_listeners.append(listener)

    async def calls_with_miss(self, call_ids: Iterable[str], reason: str) -> builtins.set[str]:
        """Those of `call_ids` whose miss, with this reason, is in the ledger."""
        ids = builtins.list(call_ids)
        if not ids:
            return set()
        stmt = select(misses.c.call_id).where(misses.c.call_id.in_(ids), misses.c.reason == reason)
        async with self._db.connect() as conn:
            return {str(r[0]) for r in (await conn.execute(stmt)).all()}

    async def close_for_number(
        self, number_e164: str, reason: CloseReason | str, at: datetime, call_id: str | None
    ) -> builtins.list[int]:
        """Close the active task(s) of a number that reached an operator; their ids.

        A task whose caller gave another number closes when either number gets through.
        """
        params = close_for_number_params(number_e164, reason, at, call_id)
        async with self._db.begin() as conn:
            found = await conn.execute(_CLOSE_RETURNING, params)
            return sorted(int(i) for i in found.scalars())

    # --- dispatch ------------------------------------------------------------------

    async def due(
        self,
        now: datetime,
        limit: int = 1,
        *,
        lease_s: float = 300.0,
        after: DispatchKey | None = None,
    ) -> builtins.list[CallbackTask]:
        """The tasks `claim_due` could claim now, most urgent first, without claiming
        them: the dispatcher picks those a free operator may take (a read, no write).
        `after`: the next page, those after the task with this `dispatch_key`."""
        stmt = select(callback_tasks).where(_due(now, lease_s))
        if after is not None:
            stmt = stmt.where(_after(after))
        return await self._tasks(stmt.order_by(*_DISPATCH_ORDER).limit(limit))

    async def claim_due(
        self,
        now: datetime,
        instance_id: str,
        limit: int = 1,
        *,
        lease_s: float = 300.0,
        among: Iterable[int] | None = None,
    ) -> builtins.list[CallbackTask]:
        """Claim up to `limit` due tasks for `instance_id`, most urgent first.

        Due: open with `due_at <= now`, or claimed more than `lease_s` ago by a dispatcher
        that never started an attempt. Order: priority, then the original place.
        `among`: only these tasks (those `due` listed and the dispatcher chose).
        """
        due = _due(now, lease_s)
        if among is not None:
            due = and_(due, _tasks.id.in_(builtins.list(among)))
        picked = select(_tasks.id).where(due).order_by(*_DISPATCH_ORDER).limit(limit)
        claim = update(callback_tasks).values(
            state=TaskState.CLAIMED.value, claimed_by=instance_id, claimed_at=now
        )
        async with self._db.begin() as conn:
            if self._db.dialect_name == "postgresql":
                # Rows another dispatcher is claiming are skipped, not waited for.
                ids = (await conn.execute(picked.with_for_update(skip_locked=True))).scalars()
                claim = claim.where(_tasks.id.in_(builtins.list(ids)))
            else:  # one statement: SQLite runs it under its single write lock
                claim = claim.where(_tasks.id.in_(picked), due)
            rows = (await conn.execute(claim.returning(callback_tasks))).all()
        return sorted((_task(r._mapping) for r in rows), key=dispatch_key)

    async def release(self, task_id: int, instance_id: str, due_at: datetime) -> bool:
        """Give back a claimed task without an attempt (policy said not now)."""
        return await self._if_claim_unused(
            task_id,
            instance_id,
            state=TaskState.OPEN.value,
            claimed_by=None,
            claimed_at=None,
            due_at=due_at,
        )

    async def start_attempt(
        self, task_id: int, instance_id: str, at: datetime, operator_id: str | None = None
    ) -> bool:
        """Record that an attempt starts (its operator answered); False: the claim is no
        longer ours, do not dial."""
        return await self._if_claim_unused(
            task_id,
            instance_id,
            attempt_started_at=at,
            last_attempt_at=at,
            first_attempt_at=func.coalesce(_tasks.first_attempt_at, at),
            attempts=_tasks.attempts + 1,
            attempt_stage=AttemptStage.OPERATOR.value,
            attempt_operator_id=operator_id,
        )

    async def set_stage(self, task_id: int, instance_id: str, stage: AttemptStage) -> bool:
        """Record how far our running attempt got, before the step is taken; False: the
        attempt is not ours (any more)."""
        stmt = (
            update(callback_tasks)
            .where(_tasks.id == task_id, *_claimed_by(instance_id, started=True))
            .values(attempt_stage=AttemptStage(stage).value)
        )
        return await self._updated_one(stmt)

    async def release_unstarted(self, instance_id: str, keep: Iterable[int] = ()) -> int:
        """A (re)started router gives back the claims it held without an attempt and is
        not working on (`keep`: those it still is). Their due time is kept."""
        stmt = (
            update(callback_tasks)
            .where(*_claimed_by(instance_id, started=False), _tasks.id.not_in(builtins.list(keep)))
            .values(state=TaskState.OPEN.value, claimed_by=None, claimed_at=None)
        )
        async with self._db.begin() as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def attempts_under_way(self, instance_id: str) -> builtins.list[CallbackTask]:
        """Tasks whose attempt `instance_id` started and never finished."""
        return await self._tasks(
            select(callback_tasks).where(*_claimed_by(instance_id, started=True))
        )

    async def _if_claim_unused(self, task_id: int, instance_id: str, **values: Any) -> bool:
        # The fence: only the claim's holder, and only before its attempt started. A
        # dispatcher whose lease ran out and whose task was taken over fails here.
        stmt = (
            update(callback_tasks)
            .where(_tasks.id == task_id, *_claimed_by(instance_id, started=False))
            .values(values)
        )
        return await self._updated_one(stmt)

    async def _updated_one(self, stmt: Any) -> bool:
        async with self._db.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount == 1)

    async def finish_attempt(
        self,
        task_id: int,
        outcome: AttemptOutcome | str,
        at: datetime,
        next_due_at: datetime | None,
        close_reason: CloseReason | str | None,
    ) -> CallbackTask | None:
        """Record an attempt's outcome: reopen for `next_due_at`, or close with
        `close_reason` (exactly one; `after_attempt` decides). None: no attempt was under
        way (the task was closed meanwhile, or another router finished it)."""
        if (next_due_at is None) == (close_reason is None):
            raise ValueError("give exactly one of next_due_at and close_reason")
        values: dict[str, Any] = {
            "last_outcome": AttemptOutcome(outcome).value,
            "attempt_started_at": None,
            "attempt_stage": None,
            "claimed_by": None,
            "claimed_at": None,
        }
        if not uses_an_attempt(AttemptOutcome(outcome)):
            values["attempts"] = _tasks.attempts - 1  # counted by `start_attempt`: undone
        if close_reason is not None:
            values.update(_closing(CloseReason(close_reason), at))
        else:
            values.update(state=TaskState.OPEN.value, due_at=next_due_at)
        stmt = (
            update(callback_tasks)
            .where(
                _tasks.id == task_id,
                _tasks.state == TaskState.CLAIMED.value,
                _tasks.attempt_started_at.is_not(None),
            )
            .values(values)
            .returning(callback_tasks)
        )
        async with self._db.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _task(row._mapping)

    async def interrupted(self, now: datetime, lease_s: float) -> builtins.list[CallbackTask]:
        """Tasks whose attempt started over `lease_s` ago and never finished: the router
        dialling them stopped. Never claimed again by `claim_due`; the engine resolves
        them (`finish_attempt`) once it knows whether the call happened."""
        stmt = (
            select(callback_tasks)
            .where(
                _tasks.state == TaskState.CLAIMED.value,
                _tasks.attempt_started_at < now - timedelta(seconds=lease_s),
            )
            .order_by(*_DISPATCH_ORDER)
        )
        return await self._tasks(stmt)

    # --- people --------------------------------------------------------------------

    async def call_back_now(self, task_id: int, now: datetime) -> bool:
        """An active task becomes due now, and the dispatcher is told at once (as for a
        new miss): it dials as soon as an operator may take it. False: not active."""
        stmt = update(callback_tasks).where(_tasks.id == task_id, ACTIVE).values(due_at=now)
        async with self._db.begin() as conn:
            result = await conn.execute(stmt)
        if result.rowcount != 1:
            return False
        self._tell_listeners()
        return True

    async def cancel(self, task_id: int, by: str, at: datetime) -> CallbackTask | None:
        """Drop an active task; None when there is no such task, `TaskClosedError` when
        it is already closed."""
        return await self._close_by_hand(task_id, CloseReason.CANCELLED, at, by=by, note=None)

    async def close(
        self, task_id: int, reason: CloseReason, at: datetime, by: str
    ) -> CallbackTask | None:
        """Close an active task for a reason the dispatcher found (do not call)."""
        return await self._close_by_hand(task_id, reason, at, by=by, note=None)

    async def done(
        self, task_id: int, by: str, at: datetime, note: str | None = None
    ) -> CallbackTask | None:
        """Mark an active task worked by hand (an operator called from their own phone)."""
        return await self._close_by_hand(task_id, CloseReason.DONE, at, by=by, note=note)

    async def _close_by_hand(
        self, task_id: int, reason: CloseReason, at: datetime, *, by: str, note: str | None
    ) -> CallbackTask | None:
        stmt = (
            update(callback_tasks)
            .where(_tasks.id == task_id, ACTIVE)
            .values(_closing(reason, at, by=by, note=note))
            .returning(callback_tasks)
        )
        async with self._db.begin() as conn:
            row = (await conn.execute(stmt)).first()
        if row is not None:
            return _task(row._mapping)
        current = await self.get(task_id)
        if current is None:
            return None
        raise TaskClosedError(current)

    # --- reading -------------------------------------------------------------------

    async def get(self, task_id: int) -> CallbackTask | None:
        found = await self._tasks(select(callback_tasks).where(_tasks.id == task_id))
        return found[0] if found else None

    async def list(
        self,
        state: TaskState | str | None = None,
        line: str | None = None,
        min_age_s: float | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        now: datetime | None = None,
    ) -> builtins.list[CallbackTask]:
        """Tasks in dispatch order (active first), then closed ones, latest closed first.

        `min_age_s`: only tasks whose first miss is at least that old.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1..{MAX_PAGE}, not {limit}")
        if offset < 0:
            raise ValueError(f"offset must be 0 or more, not {offset}")
        stmt = select(callback_tasks)
        if state is not None:
            stmt = stmt.where(_tasks.state == TaskState(state).value)
        if line is not None:
            stmt = stmt.where(_tasks.line == line)
        if min_age_s is not None:
            oldest = (now or self._clock()) - timedelta(seconds=min_age_s)
            stmt = stmt.where(_tasks.first_missed_at <= oldest)
        stmt = stmt.order_by(
            _tasks.closed_at.is_not(None), _tasks.closed_at.desc(), *_DISPATCH_ORDER
        )
        return await self._tasks(stmt.limit(limit).offset(offset))

    async def misses_of(self, task_id: int) -> builtins.list[MissRow]:
        """The misses that made a task, in time order."""
        stmt = (
            select(misses)
            .where(misses.c.task_id == task_id)
            .order_by(misses.c.missed_at, misses.c.id)
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [MissRow(**row._mapping) for row in rows]

    async def summary(self, now: datetime, since: datetime | None = None) -> CallbackSummary:
        """Supervisors' figures: the backlog now, and how misses were worked since `since`."""
        async with self._db.connect() as conn:
            return await summarise(conn, now, since)

    async def _tasks(self, stmt: Any) -> builtins.list[CallbackTask]:
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_task(row._mapping) for row in rows]


_DISPATCH_ORDER = (_tasks.priority.desc(), _tasks.first_missed_at, _tasks.id)


def _after(key: DispatchKey) -> Any:
    """Later in dispatch order than the task whose `dispatch_key` this is (a keyset
    page: no OFFSET, whose cost grows with the backlog)."""
    neg_priority, first_missed_at, task_id = key
    priority = -neg_priority
    return or_(
        _tasks.priority < priority,
        and_(
            _tasks.priority == priority,
            or_(
                _tasks.first_missed_at > first_missed_at,
                and_(_tasks.first_missed_at == first_missed_at, _tasks.id > task_id),
            ),
        ),
    )


def _due(now: datetime, lease_s: float) -> Any:
    """Claimable: open and due, or claimed over `lease_s` ago and never started."""
    stale = now - timedelta(seconds=lease_s)
    return and_(
        # Implied by what follows; spelt as the partial indexes' own predicate (a literal,
        # not bound values) so that SQLite may walk them (it only matches the same text).
        text(ACTIVE_TASK),
        or_(
            and_(_tasks.state == TaskState.OPEN.value, _tasks.due_at <= now),
            and_(
                _tasks.state == TaskState.CLAIMED.value,
                _tasks.claimed_at < stale,
                _tasks.attempt_started_at.is_(None),
            ),
        ),
    )


def _claimed_by(instance_id: str, *, started: bool) -> tuple[Any, ...]:
    """Tasks `instance_id` holds, with (`started`) or without an attempt under way."""
    attempt = _tasks.attempt_started_at
    return (
        _tasks.state == TaskState.CLAIMED.value,
        _tasks.claimed_by == instance_id,
        attempt.is_not(None) if started else attempt.is_(None),
    )


def dispatch_key(task: CallbackTask) -> DispatchKey:
    """The task's place in dispatch order, as a value that sorts the same way."""
    return (-task.priority, task.first_missed_at, task.id)


def _closing(
    reason: CloseReason,
    at: datetime,
    *,
    by: str | None = None,
    note: str | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": state_after_close(reason).value,
        "close_reason": reason.value,
        "closed_at": at,
        "closed_by": by,
        "closed_call_id": call_id,
        # A closed task has no attempt running, whoever closed it and whenever (the
        # attempt's own finish then finds it closed and changes nothing).
        "attempt_started_at": None,
        "attempt_stage": None,
        "claimed_by": None,
        "claimed_at": None,
    }
    if note is not None:
        values["note"] = note
    return values


def _task(row: Any) -> CallbackTask:
    values = dict(row)
    values["state"] = TaskState(values["state"])
    values["reasons"] = tuple(values["reasons"])
    values["keep_place"] = bool(values["keep_place"])
    values["target"] = MissTarget.from_json(values["target"])
    return CallbackTask(**values)


__all__ = ["MAX_PAGE", "CallbacksRepo", "DispatchKey", "TaskClosedError", "dispatch_key"]
