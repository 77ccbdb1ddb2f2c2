"""Journal records applied in batches, on SQLite and PostgreSQL: the same rows as the
repositories' one-write-at-a-time methods, all or nothing, and through the journey writer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from storage_support import BACKENDS, migrated_store

from router.domain.operators import Operator, Presence
from router.engine.recorder import Recorder
from router.storage import CallRow, Store, is_transient_error
from router.storage.journal import (
    CallbackRing,
    CallEvent,
    CallUpdate,
    CloseCallbacks,
    Journal,
    JournalOp,
    NewCall,
    OperatorState,
    RingAttempt,
)
from router.storage.models import MissInput

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MSK = timezone(timedelta(hours=3))


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def new(cid: str) -> NewCall:
    return NewCall(CallRow(cid, "clinic-router", "+7 916 123-45-67", "100", T0))


def journey(cid: str) -> list[JournalOp]:
    """What one routed call writes, in the order a call writes it."""
    leg = "leg;op-1"  # the same for every call: snapshots compare across calls
    return [
        new(cid),
        CallEvent(cid, "arrived", {"did": "100"}, T0),
        CallUpdate(cid, {"caller_e164": "+79161234567", "phase": "routing"}),
        CallUpdate(cid, {"patient_id": "p1"}),
        CallEvent(cid, "ringing", {"operator": "op1", "tried": ["op1"]}, T0),
        CallUpdate(cid, {"tried_operators": ["op1"], "operator_channel_id": leg}),
        RingAttempt(cid, "op1", leg, T0, T0 + timedelta(seconds=2), "answered"),
        # A non-UTC offset: the batched UPDATE must convert it as a plain update does.
        CallUpdate(cid, {"phase": "bridged", "answered_at": T0.astimezone(MSK)}),
        CallEvent(cid, "answered", {"operator": "op1"}, T0 + timedelta(seconds=2)),
        CallUpdate(cid, {"phase": "ended", "outcome": "answered", "ended_at": T0}),
    ]


async def one_by_one(store: Store, op: JournalOp) -> None:
    """The repositories' own methods: the reference the batches must equal."""
    if isinstance(op, NewCall):
        await store.calls.create(op.row)
    elif isinstance(op, CallUpdate):
        await store.calls.update(op.call_id, **op.fields)
    elif isinstance(op, CallEvent):
        await store.calls.append_event(op.call_id, op.kind, op.data, op.at)
    elif isinstance(op, RingAttempt):
        await store.calls.record_ring_attempt(
            call_id=op.call_id,
            operator_id=op.operator_id,
            channel_id=op.channel_id,
            started_at=op.started_at,
            ended_at=op.ended_at,
            result=op.result,
            duration_ms=op.duration_ms,
        )
    elif isinstance(op, OperatorState):
        await store.operators.save_state(
            op.operator_id,
            op.presence,
            op.reason,
            op.changed_at,
            op.idle_since,
            op.calls_today,
            op.consecutive_no_answers,
        )
    else:
        raise AssertionError(f"no one-by-one reference for {op!r}")


Snapshot = tuple[
    CallRow | None,
    list[tuple[str, datetime, dict[str, Any]]],
    list[tuple[str, str | None, datetime, datetime | None, str | None, int | None]],
]


async def snapshot(store: Store, cid: str) -> Snapshot:
    row = await store.calls.get(cid)
    events = [(e.kind, e.at, dict(e.data)) for e in await store.calls.events(cid)]
    rings = [
        (r.operator_id, r.channel_id, r.started_at, r.ended_at, r.result, r.duration_ms)
        for r in await store.calls.ring_attempts(cid)
    ]
    return row, events, rings


async def test_a_batch_writes_what_the_writes_one_by_one_write(store: Store) -> None:
    # Two calls interleaved, as concurrent calls submit them.
    batched = [op for pair in zip(journey("b1"), journey("b2"), strict=True) for op in pair]
    await Journal(store.db).apply(batched)
    for op in journey("s1"):
        await one_by_one(store, op)
    reference = await snapshot(store, "s1")
    for cid in ("b1", "b2"):
        row, events, rings = await snapshot(store, cid)
        assert row is not None and replace(row, id="s1") == reference[0]
        assert (events, rings) == reference[1:]
        assert row.answered_at == T0 and row.answered_at.tzinfo is not None
        assert row.tried_operators == ("op1",) and row.phase == "ended"
        assert (row.patient_id, row.outcome, row.ended_at) == ("p1", "answered", T0)


async def test_a_batch_keeps_the_order_of_writes_that_touch_a_call_before_its_creation(
    store: Store,
) -> None:
    ops: list[JournalOp] = [
        CallUpdate("late", {"patient_id": "p9"}),  # no row yet: changes nothing
        new("late"),
        CallEvent("late", "arrived", {}, T0),
        new("late"),  # already stored: changes nothing
        CallUpdate("late", {"phase": "routing"}),
    ]
    await Journal(store.db).apply(ops)
    row = await store.calls.get("late")
    assert row is not None
    assert (row.patient_id, row.phase) == (None, "routing")
    assert [e.kind for e in await store.calls.events("late")] == ["arrived"]


async def test_a_failing_batch_writes_nothing(store: Store) -> None:
    ops: list[JournalOp] = [
        *journey("ok"),
        CallEvent("no-such-call", "arrived", {}, T0),  # foreign key
    ]
    with pytest.raises(IntegrityError):
        await Journal(store.db).apply(ops)
    assert await store.calls.get("ok") is None
    with pytest.raises(ValueError, match="cannot update"):
        await Journal(store.db).apply([new("v"), CallUpdate("v", {"app": "other"})])
    assert await store.calls.get("v") is None


async def test_operator_states_merge_per_operator(store: Store) -> None:
    await store.operators.sync([Operator("op1", "Anna", "PJSIP/op1")])
    at = T0 + timedelta(minutes=1)
    await Journal(store.db).apply(
        [
            OperatorState("op1", Presence.RINGING, None, T0, None, 0, 4),
            OperatorState("op1", Presence.ON_CALL, None, at, None, 1),  # count left alone
            OperatorState("ghost", Presence.PAUSED, "lunch", at, None, 0),  # not stored
        ]
    )
    [row] = await store.operators.list()
    assert (row.state, row.state_changed_at, row.calls_today) == (Presence.ON_CALL, at, 1)
    assert row.consecutive_no_answers == 4


async def test_a_batch_closes_the_callback_task_of_a_caller_who_got_through(
    store: Store,
) -> None:
    def miss(call_id: str, number: str) -> MissInput:
        return MissInput(call_id, "moscow", number, None, "abandoned", 9.0, T0, T0, True, 0)

    anna = await store.callbacks.record_miss(miss("m1", "+79160000001"))
    boris = await store.callbacks.record_miss(miss("m2", "+79160000002"))
    at = T0 + timedelta(minutes=3)
    await Journal(store.db).apply(
        [*journey("c1"), CloseCallbacks("+79160000001", "reached_operator", at, "c1")]
    )
    assert anna.task_id is not None and boris.task_id is not None
    closed = await store.callbacks.get(anna.task_id)
    untouched = await store.callbacks.get(boris.task_id)
    assert closed is not None and untouched is not None
    assert (closed.state, closed.close_reason, closed.closed_call_id) == (
        "closed",
        "reached_operator",
        "c1",
    )
    assert closed.closed_at == at
    assert untouched.state == "open"


async def test_the_writer_batches_records_and_isolates_a_bad_one(store: Store) -> None:
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(store.db.engine.sync_engine, "before_cursor_execute", seen)
    recorder = Recorder(
        Journal(store.db).apply,
        is_transient=is_transient_error,
        retry_initial=0.01,
        retry_max=0.01,
        max_attempts_permanent=2,
        linger_s=0,
    )
    for cid in ("w1", "w2", "w3"):
        for op in journey(cid):
            recorder.record(op)
    # Batch writes: a handful of statements, not one transaction per write.
    task = asyncio.create_task(recorder.run())
    try:
        assert await recorder.flush(10.0)
        batched = [s for s in statements if s in ("INSERT", "UPDATE")]
        assert len(batched) < 3 * len(journey("x")) / 2
        # A record the database refuses (foreign key) is dropped alone.
        recorder.record(CallEvent("w1", "before", {}, T0))
        recorder.record(CallEvent("no-such-call", "bad", {}, T0))
        recorder.record(CallEvent("w2", "after", {}, T0))
        assert await recorder.flush(10.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for cid in ("w1", "w2", "w3"):
        row, events, _ = await snapshot(store, cid)
        assert row is not None and row.outcome == "answered"
        assert [e[0] for e in events if e[0] not in ("before", "after")] == [
            "arrived",
            "ringing",
            "answered",
        ]
    assert "before" in [e.kind for e in await store.calls.events("w1")]
    assert "after" in [e.kind for e in await store.calls.events("w2")]
    assert recorder.backlog == 0 and recorder.failures == 3  # the batch, then bad twice


async def test_a_callback_ring_recorded_again_is_one_row(store: Store) -> None:
    """A restarted router records the rings of an attempt it adopts again: the channel's
    unique key keeps the first row, and the batch around it still lands."""
    miss = MissInput("m1", "moscow", "+79160000001", None, "abandoned", 9.0, T0, T0, True, 0)
    task_id = (await store.callbacks.record_miss(miss)).task_id
    assert task_id is not None
    end = T0 + timedelta(seconds=4)
    first = CallbackRing(task_id, 1, "patient", "op1", "cb-1-1-pt", T0, end, "answered", 4000)
    again = replace(first, started_at=end, duration_ms=0)
    await Journal(store.db).apply([first])
    await Journal(store.db).apply([again, *journey("c1")])
    async with store.db.begin() as conn:
        rows = (await conn.exec_driver_sql("SELECT duration_ms FROM callback_rings")).all()
    assert [tuple(row) for row in rows] == [(4000,)]
    assert await store.calls.get("c1") is not None
    with pytest.raises(ValueError, match="party"):
        await Journal(store.db).apply([replace(first, channel_id="x", party="caller")])
