"""Journal writes as small records, applied many at a time in one transaction.

The journey writer (`router.engine.recorder`) queues these records off the call path and
hands them to `Journal.apply` in batches: one transaction, and per table one executemany,
instead of a transaction per write (which is where the router's database CPU went).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.operators import Presence
from router.storage.callback_capture import CLOSE_FOR_NUMBER, close_for_number_params
from router.storage.callback_rings import callback_ring_values
from router.storage.callback_rings import insert_statement as callback_ring_insert
from router.storage.calls import (
    INSERT_EVENT,
    INSERT_RING_ATTEMPT,
    call_values,
    create_statement,
    event_values,
    ring_values,
    update_values,
)
from router.storage.db import Database
from router.storage.models import CallRow
from router.storage.operators import state_values
from router.storage.report_rollup_sql import late_states, mark_stale, mark_states_stale
from router.storage.tables import calls, dialect_insert, operator_states, operators


@dataclass(frozen=True, slots=True)
class NewCall:
    """`CallRepository.create`: a call's row (left alone when the id is already stored)."""

    row: CallRow

    @property
    def label(self) -> str:
        return f"create {self.row.id}"


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """`CallRepository.update`: some of a call's columns."""

    call_id: str
    fields: Mapping[str, object]

    @property
    def label(self) -> str:
        return f"update {self.call_id}"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """`CallRepository.append_event`: one step of a call's journey."""

    call_id: str
    kind: str
    data: Mapping[str, object]
    at: datetime

    @property
    def label(self) -> str:
        return f"event {self.call_id} {self.kind}"


@dataclass(frozen=True, slots=True)
class RingAttempt:
    """`CallRepository.record_ring_attempt`: one operator rung for a call."""

    call_id: str
    operator_id: str
    channel_id: str | None
    started_at: datetime
    ended_at: datetime | None
    result: str | None
    duration_ms: int | None = None

    @property
    def label(self) -> str:
        return f"ring {self.call_id} {self.operator_id}"


@dataclass(frozen=True, slots=True)
class CallbackRing:
    """One phone rung for a callback attempt: its operator's, or the patient's."""

    task_id: int
    attempt: int
    party: str  # `operator` or `patient`
    operator_id: str
    channel_id: str
    started_at: datetime
    ended_at: datetime
    result: str
    duration_ms: int

    @property
    def label(self) -> str:
        return f"callback ring {self.task_id} {self.party}"


@dataclass(frozen=True, slots=True)
class OperatorState:
    """`OperatorRepository.save_state`: an operator's live state."""

    operator_id: str
    presence: Presence | str
    reason: str | None
    changed_at: datetime
    idle_since: datetime | None
    calls_today: int
    consecutive_no_answers: int | None = None

    @property
    def label(self) -> str:
        return f"operator {self.operator_id}"


@dataclass(frozen=True, slots=True)
class CloseCallbacks:
    """`CallbacksRepo.close_for_number`: the patient got through; their task is done."""

    number_e164: str
    reason: str
    at: datetime
    call_id: str | None

    @property
    def label(self) -> str:
        return f"close callbacks {self.call_id}"


JournalOp = (
    NewCall | CallUpdate | CallEvent | RingAttempt | CallbackRing | OperatorState | CloseCallbacks
)


class Journal:
    """Applies journal records to the database, many in one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def apply(self, ops: Sequence[JournalOp]) -> None:
        """Apply `ops` with the result of applying them one after another, all or nothing.

        Every value is checked before the transaction starts (`ValueError`/`TypeError`, as
        the repositories' own methods raise); a database error rolls back the whole
        batch. Updates of one call or one operator are merged into one statement.
        """
        segments = [_Segment()]
        for op in ops:
            if not segments[-1].add(op):
                segments.append(_Segment())
                segments[-1].add(op)
        dialect = self._db.dialect_name
        async with self._db.begin() as conn:
            # a state change with an old `at` (a batch after the database was away)
            # changes the state seconds of built intervals from it to the next change
            late = await late_states(conn, dialect, [r for s in segments for r in s.states])
            for segment in segments:
                await segment.execute(conn, dialect)
            # a late write (a batch after a restart, a reconcile) to a call of a built
            # interval: that interval is read raw until rebuilt
            touched = [str(c["id"]) for s in segments for c in s.creates]
            await mark_stale(conn, dialect, [*touched, *(i for s in segments for i in s.touched)])
            await mark_states_stale(conn, dialect, late)


@dataclass(slots=True)
class _Segment:
    """A run of records that may be grouped by table without changing the result.

    Grouped, a segment writes its new calls first, then updates, events and ring
    attempts. That equals the submission order as long as nothing touched a call before
    its creation, so such a creation starts the next segment instead.
    """

    creates: list[dict[str, object]] = field(default_factory=list)
    updates: dict[str, dict[str, object]] = field(default_factory=dict)
    events: list[dict[str, object]] = field(default_factory=list)
    rings: list[dict[str, object]] = field(default_factory=list)
    callback_rings: list[dict[str, object]] = field(default_factory=list)
    operators: dict[str, dict[str, object]] = field(default_factory=dict)
    states: list[dict[str, object]] = field(default_factory=list)  # the state history
    closes: list[dict[str, object]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)

    def add(self, op: JournalOp) -> bool:
        """Take `op` (False: it belongs to the next segment)."""
        if isinstance(op, NewCall):
            if op.row.id in self.touched:
                return False
            self.creates.append(call_values(op.row))
        elif isinstance(op, CallUpdate):
            self.updates.setdefault(op.call_id, {}).update(update_values(op.fields))
            self.touched.add(op.call_id)
        elif isinstance(op, CallEvent):
            self.events.append(event_values(op.call_id, op.kind, op.data, op.at))
            self.touched.add(op.call_id)
        elif isinstance(op, RingAttempt):
            ring = (op.call_id, op.operator_id, op.channel_id, op.started_at, op.ended_at)
            self.rings.append(ring_values(*ring, op.result, op.duration_ms))
            self.touched.add(op.call_id)
        elif isinstance(op, CallbackRing):
            self.callback_rings.append(
                callback_ring_values(
                    op.task_id,
                    op.attempt,
                    op.party,
                    op.operator_id,
                    op.channel_id,
                    op.started_at,
                    op.ended_at,
                    op.result,
                    op.duration_ms,
                )
            )
        elif isinstance(op, CloseCallbacks):
            self.closes.append(
                close_for_number_params(op.number_e164, op.reason, op.at, op.call_id)
            )
        else:
            values = state_values(
                op.presence,
                op.reason,
                op.changed_at,
                op.idle_since,
                op.calls_today,
                op.consecutive_no_answers,
            )
            self.operators.setdefault(op.operator_id, {}).update(values)
            self.states.append(state_history_values(op))
        return True

    async def execute(self, conn: AsyncConnection, dialect: str) -> None:
        if self.creates:
            await conn.execute(create_statement(dialect), self.creates)
        await _update_many(conn, calls, self.updates)
        if self.events:
            await conn.execute(INSERT_EVENT, self.events)
        if self.rings:
            await conn.execute(INSERT_RING_ATTEMPT, self.rings)
        if self.callback_rings:
            await conn.execute(callback_ring_insert(dialect), self.callback_rings)
        await _update_many(conn, operators, self.operators)
        if self.states:
            await conn.execute(_state_history_statement(dialect), self.states)
        if self.closes:
            await conn.execute(CLOSE_FOR_NUMBER, self.closes)


def state_history_values(op: OperatorState) -> dict[str, object]:
    """A row of `operator_states`: the state an operator entered and when."""
    presence = Presence(op.presence).value
    return {
        "operator_id": op.operator_id,
        "state": presence,
        "reason": op.reason if presence == Presence.PAUSED.value else None,
        "at": op.changed_at,
    }


@cache
def _state_history_statement(dialect: str) -> Any:
    # The board saves an operator's state on every change of their counters too: the same
    # state since the same time is one row (the unique key), not one per save.
    insert = dialect_insert(dialect, operator_states)
    return insert.on_conflict_do_nothing(index_elements=["operator_id", "at", "state"])


async def _update_many(
    conn: AsyncConnection, table: Table, rows: Mapping[str, Mapping[str, object]]
) -> None:
    """UPDATE `table` by id, one executemany per set of columns written."""
    by_columns: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row_id, values in rows.items():
        params = {f"p_{name}": value for name, value in values.items()}
        params["p_id"] = row_id
        by_columns.setdefault(tuple(values), []).append(params)
    for columns, params_list in by_columns.items():
        await conn.execute(_update_by_id(table, columns), params_list)


@cache
def _update_by_id(table: Table, columns: tuple[str, ...]) -> Any:
    # Parameter names differ from the column names: SQLAlchemy reserves those for SET.
    # A bind parameter in SET takes its column's type, so the columns' own conversions
    # (UTC timestamps, storable text, JSON) apply as in a plain update.
    return (
        update(table)
        .where(table.c.id == bindparam("p_id"))
        .values({name: bindparam(f"p_{name}") for name in columns})
    )
