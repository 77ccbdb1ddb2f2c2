"""Calls, their journeys (events) and ring attempts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from router.domain.calls import Outcome, Phase, RingResult
from router.domain.phone import MAX_RAW_LENGTH
from router.storage.db import Database
from router.storage.models import CallRow, EventRow, RingAttemptRow
from router.storage.report_rollup_sql import mark_stale
from router.storage.tables import call_events, calls, dialect_insert, ring_attempts

MAX_RECENT = 1_000


class CallRepository:
    """Live call state (to adopt calls after a restart) and the history of every call.

    Each method is one short transaction, so concurrent calls never wait on each other
    beyond the database's own locking.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, call: CallRow) -> bool:
        """Store a new call; False (and nothing changed) when the id is already stored.

        Idempotent so that a write retried after an ambiguous failure (the commit went
        through, the answer was lost) does not turn into an error.
        """
        async with self._db.begin() as conn:
            result = await conn.execute(create_statement(self._db.dialect_name), call_values(call))
            await mark_stale(conn, self._db.dialect_name, [call.id])
        return result.rowcount == 1

    async def update(self, call_id: str, **fields: object) -> bool:
        """Set some of a call's columns; False when the call is not stored.

        Only the columns in `UPDATABLE` may change (id, app, caller and start time are
        fixed at creation); an unknown name or a value of the wrong kind raises
        `ValueError`/`TypeError` before anything is written.
        """
        values = update_values(fields)
        async with self._db.begin() as conn:
            result = await conn.execute(update(calls).where(calls.c.id == call_id).values(values))
            await mark_stale(conn, self._db.dialect_name, [call_id])
        return result.rowcount == 1

    async def append_event(
        self, call_id: str, kind: str, data: Mapping[str, object], at: datetime
    ) -> None:
        """Add one step to a call's journey. `data` must be JSON-serialisable."""
        async with self._db.begin() as conn:
            await conn.execute(INSERT_EVENT, event_values(call_id, kind, data, at))
            await mark_stale(conn, self._db.dialect_name, [call_id])

    async def record_ring_attempt(
        self,
        *,
        call_id: str,
        operator_id: str,
        channel_id: str | None,
        started_at: datetime,
        ended_at: datetime | None,
        result: str | None,
        duration_ms: int | None = None,
    ) -> int:
        """Record one operator rung for a call; returns the attempt's id.

        `result` is a `RingResult` value. `duration_ms` defaults to `ended_at - started_at`.
        """
        values = ring_values(
            call_id, operator_id, channel_id, started_at, ended_at, result, duration_ms
        )
        async with self._db.begin() as conn:
            inserted = await conn.execute(insert(ring_attempts).values(values))
            await mark_stale(conn, self._db.dialect_name, [call_id])
        key = inserted.inserted_primary_key
        if key is None:  # cannot happen for a single-row INSERT; keeps the type exact
            raise RuntimeError("the database returned no id for the ring attempt")
        return int(key[0])

    async def get(self, call_id: str) -> CallRow | None:
        rows = await self._calls(select(calls).where(calls.c.id == call_id))
        return rows[0] if rows else None

    async def open_calls(self, app: str) -> list[CallRow]:
        """Calls of Stasis app `app` not yet ended, oldest first (reconciled on reconnect)."""
        stmt = (
            select(calls)
            .where(calls.c.app == app, calls.c.ended_at.is_(None))
            .order_by(calls.c.started_at, calls.c.id)
        )
        return await self._calls(stmt)

    async def recent(
        self,
        limit: int = 50,
        before: datetime | None = None,
        *,
        before_id: str | None = None,
        since: datetime | None = None,
    ) -> list[CallRow]:
        """The latest calls, newest first, at most `limit` (1..`MAX_RECENT`).

        Next page: pass the last row's `started_at` as `before` and its `id` as
        `before_id` (without `before_id`, calls started in the same microsecond as
        `before` are skipped). `since`: only calls started at or after that time.
        """
        if not 1 <= limit <= MAX_RECENT:
            raise ValueError(f"limit must be 1..{MAX_RECENT}, not {limit}")
        stmt = select(calls).order_by(calls.c.started_at.desc(), calls.c.id.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(calls.c.started_at >= since)
        if before is not None and before_id is not None:
            stmt = stmt.where(
                or_(
                    calls.c.started_at < before,
                    and_(calls.c.started_at == before, calls.c.id < before_id),
                )
            )
        elif before is not None:
            stmt = stmt.where(calls.c.started_at < before)
        return await self._calls(stmt)

    async def events(self, call_id: str) -> list[EventRow]:
        """The call's journey in time order (insertion order among equal times)."""
        return (await self.events_of([call_id]))[call_id]

    async def events_of(
        self, call_ids: Sequence[str], kinds: Sequence[str] | None = None
    ) -> dict[str, list[EventRow]]:
        """The journeys of several calls in one query: every id given is a key (an empty
        list when the call has no events), each journey in `events` order. `kinds`: only
        events of those kinds (what a restart reads to resume waiting callers)."""
        journeys: dict[str, list[EventRow]] = {call_id: [] for call_id in call_ids}
        if not journeys:
            return journeys
        stmt = (
            select(call_events)
            .where(call_events.c.call_id.in_(list(journeys)))
            .order_by(call_events.c.at, call_events.c.id)
        )
        if kinds is not None:
            stmt = stmt.where(call_events.c.kind.in_(list(kinds)))
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        for r in rows:
            journeys[r.call_id].append(
                EventRow(id=r.id, call_id=r.call_id, at=r.at, kind=r.kind, data=r.data)
            )
        return journeys

    async def ring_attempts(self, call_id: str) -> list[RingAttemptRow]:
        """Every operator rung for the call, in the order they were rung."""
        stmt = (
            select(ring_attempts)
            .where(ring_attempts.c.call_id == call_id)
            .order_by(ring_attempts.c.started_at, ring_attempts.c.id)
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [RingAttemptRow(**row._mapping) for row in rows]

    async def _calls(self, stmt: Any) -> list[CallRow]:
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_call_row(row._mapping) for row in rows]


# -- the rows the writes make: shared by the methods above and the journal's batches --------

INSERT_EVENT = insert(call_events)
INSERT_RING_ATTEMPT = insert(ring_attempts)


@cache
def create_statement(dialect_name: str) -> Any:
    """INSERT of a new call that leaves an already stored id alone (takes `call_values`)."""
    return dialect_insert(dialect_name, calls).on_conflict_do_nothing(index_elements=["id"])


def call_values(call: CallRow) -> dict[str, object]:
    """Every column of a new call, checked like `update` checks them."""
    values: dict[str, object] = {
        "id": call.id,
        "app": call.app,
        # Caller ID and DID come from the network: bounded like Asterisk bounds them.
        "caller_raw": call.caller_raw[:MAX_RAW_LENGTH],
        "did": call.did[:MAX_RAW_LENGTH],
        "started_at": call.started_at,
        "tried_operators": _str_list(call.tried_operators),
    }
    for name, check in _UPDATABLE.items():
        if name != "tried_operators":
            values[name] = check(getattr(call, name))
    return values


def update_values(fields: Mapping[str, object]) -> dict[str, object]:
    """`fields` checked and converted for an UPDATE of `calls` (see `CallRepository.update`)."""
    if not fields:
        raise ValueError("update() needs at least one field")
    unknown = sorted(set(fields) - _UPDATABLE.keys())
    if unknown:
        raise ValueError(f"cannot update {', '.join(unknown)} (updatable: {', '.join(UPDATABLE)})")
    return {name: _UPDATABLE[name](value) for name, value in fields.items()}


def event_values(
    call_id: str, kind: str, data: Mapping[str, object], at: datetime
) -> dict[str, object]:
    return {"call_id": call_id, "kind": kind, "data": dict(data), "at": at}


def ring_values(
    call_id: str,
    operator_id: str,
    channel_id: str | None,
    started_at: datetime,
    ended_at: datetime | None,
    result: str | None,
    duration_ms: int | None,
) -> dict[str, object]:
    if duration_ms is None and ended_at is not None:
        duration_ms = round((ended_at - started_at).total_seconds() * 1000)
    return {
        "call_id": call_id,
        "operator_id": operator_id,
        "channel_id": channel_id,
        "started_at": started_at,
        "ended_at": ended_at,
        "result": None if result is None else RingResult(result).value,
        "duration_ms": duration_ms,
    }


def _opt_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected str or None, not {type(value).__name__}")


def _opt_datetime(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value  # awareness is checked by the column type
    raise TypeError(f"expected datetime or None, not {type(value).__name__}")


def _phase(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a Phase value, not {type(value).__name__}")
    return Phase(value).value


def _opt_outcome(value: object) -> str | None:
    text = _opt_str(value)
    return None if text is None else Outcome(text).value


def _str_list(value: object) -> list[str]:
    # A str is a sequence too: tried_operators="op1" would store ["o", "p", "1"].
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return items
    raise TypeError(f"expected a sequence of str, not {value!r}")


_UPDATABLE: dict[str, Callable[[object], object]] = {
    "phase": _phase,
    "caller_e164": _opt_str,
    "line": _opt_str,
    "patient_id": _opt_str,
    "answered_at": _opt_datetime,
    "ended_at": _opt_datetime,
    "outcome": _opt_outcome,
    "operator_id": _opt_str,
    "bridge_id": _opt_str,
    "operator_channel_id": _opt_str,
    "tried_operators": _str_list,
    "rules_version": _opt_str,
}
UPDATABLE = tuple(_UPDATABLE)


def _call_row(row: Any) -> CallRow:
    return CallRow(
        id=row["id"],
        app=row["app"],
        caller_raw=row["caller_raw"],
        did=row["did"],
        started_at=row["started_at"],
        phase=Phase(row["phase"]),
        caller_e164=row["caller_e164"],
        line=row["line"],
        patient_id=row["patient_id"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
        operator_id=row["operator_id"],
        bridge_id=row["bridge_id"],
        operator_channel_id=row["operator_channel_id"],
        tried_operators=tuple(row["tried_operators"]),
        rules_version=row["rules_version"],
    )
