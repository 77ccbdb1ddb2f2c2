"""A period's report rows read back from SQLite and PostgreSQL, written by the same
repositories the router writes with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from storage_support import BACKENDS, migrated_store

from router.domain.callback_schedule import AttemptOutcome, CloseReason
from router.domain.operators import Operator
from router.domain.reports import JourneyFacts, StateSpan, build_report
from router.storage import MissInput, Store
from router.storage.journal import Journal, OperatorState
from router.storage.models import CallRow

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNA = "+79161234567"


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


NOW = [T0]  # the ledger's clock (a task's created_at): moved by the test


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield Store(opened.db, clock=lambda: NOW[0])


async def _call(store: Store, cid: str, start: float, **fields: object) -> None:
    await store.calls.create(CallRow(cid, "clinic-router", "100", "74950000000", s(start)))
    if fields:
        await store.calls.update(cid, **fields)


async def _history(store: Store) -> None:
    calls = store.calls
    # a: a known patient, waits 5 s for queue dms, op1 answers in 3 s, talks 60 s.
    await _call(store, "a", 0, line="moscow", patient_id="p1")
    await calls.append_event("a", "waiting", {"for": "queue dms"}, s(10))
    await calls.record_ring_attempt(
        call_id="a", operator_id="op1", channel_id="a-1", started_at=s(12),
        ended_at=s(15), result="answered",
    )  # fmt: skip
    await calls.update(
        "a", answered_at=s(15), ended_at=s(75), outcome="answered", operator_id="op1"
    )
    # b: unknown, waits, hangs up while op2 rings.
    await _call(store, "b", 60, line="moscow")
    await calls.append_event("b", "waiting", {"for": "queue dms"}, s(80))
    await calls.record_ring_attempt(
        call_id="b", operator_id="op2", channel_id="b-1", started_at=s(85),
        ended_at=s(90), result="cancelled",
    )  # fmt: skip
    await calls.update("b", ended_at=s(90), outcome="abandoned")
    # c: handed to the dialplan fallback, its line only in its journey (recorded before the
    # row had it); d: yesterday, outside the period.
    await _call(store, "c", 120)
    await calls.append_event("c", "arrived", {"did": "74950000000", "line": "spb"}, s(120))
    await calls.append_event("c", "fallback", {"reason": "AriError"}, s(121))
    await calls.update("c", ended_at=s(125), outcome="failed")
    await _call(store, "d", -86400, outcome="answered")
    # Misses: b's, then the same number again (merged), then one the fallback left.
    for cid, at in (("b", 90), ("x", 400)):
        NOW[0] = s(at)
        await store.callbacks.record_miss(
            MissInput(cid, "moscow", ANNA, None, "abandoned", 10, s(at), s(at), True)
        )
    NOW[0] = s(500)
    await store.callbacks.record_miss(
        MissInput("ast-9", "spb", "+79160000009", None, "fallback_unanswered", 30, s(500),
                  s(500), True)
    )  # fmt: skip


async def test_a_period_read_back(store: Store) -> None:
    await _history(store)
    tasks = await store.callbacks.list()
    anna = next(t for t in tasks if t.number_e164 == ANNA)
    # A callback attempt by op1 reaches Anna: the task closes `connected`.
    [claimed] = await store.callbacks.claim_due(s(600), "r1", among=[anna.id])
    assert await store.callbacks.start_attempt(claimed.id, "r1", s(610), operator_id="op1")
    await store.callbacks.finish_attempt(
        claimed.id, AttemptOutcome.CONNECTED, s(700), None, CloseReason.CONNECTED
    )
    data = await store.reports.period(s(0), s(3600))
    assert sorted(c.id for c in data.calls) == ["a", "b", "c"]
    by_id = {c.id: c for c in data.calls}
    assert by_id["a"].known and not by_id["b"].known
    assert by_id["a"].facts == JourneyFacts("queue dms", s(10), s(12), False, None)
    assert by_id["b"].facts == JourneyFacts("queue dms", s(80), s(85), False, "ringing")
    assert by_id["c"].facts.fallback
    assert [by_id[c].line for c in "abc"] == ["moscow", "moscow", "spb"]
    assert sorted((r.operator_id, r.result, r.duration_ms) for r in data.rings) == [
        ("op1", "answered", 3000),
        ("op2", "cancelled", 5000),
    ]
    assert sorted(m.call_id for m in data.misses) == ["ast-9", "b", "x"]
    assert data.spans is None
    report = build_report(data, (s(0), s(3600)), s(3600), ZoneInfo("Europe/Moscow"))
    total, m = report.total, report.misses
    assert (total.offered, total.answered, total.abandoned_ringing, total.fallback) == (4, 1, 1, 2)
    assert (total.service_level, total.asa_s) == (0.5, 5.0)
    assert (m.misses, m.tasks_created, m.merged, m.reached, m.called_back) == (3, 2, 1, 1, 1)
    assert m.first_attempt_p50_s == 520.0  # first miss at 90 s, the attempt at 610 s
    assert m.attempts_per_success == 1.0
    assert m.open_now == 1  # the fallback's miss
    op1 = next(o for o in report.operators if o.operator_id == "op1")
    assert (op1.answered, op1.callbacks_worked, op1.talk_total_s) == (1, 1, 60.0)


async def test_an_empty_period(store: Store) -> None:
    await _history(store)
    data = await store.reports.period(s(-3 * 86400), s(-2 * 86400))
    assert (data.calls, data.rings, data.misses) == ([], [], [])
    assert [t.state for t in data.tasks] == ["open", "open"]  # the backlog is always read


async def test_operator_states_become_spans(store: Store) -> None:
    def state(op: str, presence: str, at: float, reason: str | None = None) -> OperatorState:
        return OperatorState(op, presence, reason, s(at), None, 0)

    # The board saves operators it knows: the rules' operators, synced at start.
    await store.operators.sync([Operator(i, i, f"PJSIP/{i}") for i in ("op1", "op2")])
    await Journal(store.db).apply(
        [
            state("op2", "paused", -600, "training"),  # before the period: its start state
            state("op1", "available", 0),
            state("op1", "on_call", 15),
            state("op1", "on_call", 15),  # saved again for a counter: the same row
            state("op2", "available", 300),
            state("op1", "wrap_up", 75),
            state("op1", "paused", 105, "lunch"),  # asked for during the call
            state("op1", "available", 1905),
            state("op1", "paused", 5000, "late"),  # after the period
        ]
    )
    data = await store.reports.period(s(0), s(3600))
    assert data.spans == [
        StateSpan("op1", "available", s(0), s(15)),
        StateSpan("op1", "on_call", s(15), s(75)),
        StateSpan("op1", "wrap_up", s(75), s(105)),
        StateSpan("op1", "paused", s(105), s(1905), "lunch"),
        StateSpan("op1", "available", s(1905), None),
        StateSpan("op2", "paused", s(-600), s(300), "training"),
        StateSpan("op2", "available", s(300), None),
    ]
    report = build_report(data, (s(0), s(3600)), s(3600), ZoneInfo("Europe/Moscow"))
    rows = {o.operator_id: o for o in report.operators}
    assert (rows["op1"].wrap_up_s, rows["op1"].paused_s) == (30.0, {"lunch": 1800.0})
    assert rows["op2"].paused_s == {"training": 300.0}  # from the period's start


async def test_the_first_attempt_is_kept(store: Store) -> None:
    NOW[0] = s(0)
    await store.callbacks.record_miss(
        MissInput("m1", "moscow", ANNA, None, "abandoned", 10, s(0), s(0), True)
    )
    for n, at in enumerate((100, 900)):
        [task] = await store.callbacks.claim_due(s(at), "r1")
        assert await store.callbacks.start_attempt(task.id, "r1", s(at + 5), operator_id="op1")
        await store.callbacks.finish_attempt(
            task.id, AttemptOutcome.NO_ANSWER, s(at + 30), s(at + 600), None
        )
        assert (await store.callbacks.get(task.id)).first_attempt_at == s(105)  # type: ignore[union-attr]
        assert n + 1 == (await store.callbacks.get(task.id)).attempts  # type: ignore[union-attr]
    data = await store.reports.period(s(0), s(3600))
    assert [t.first_attempt_at for t in data.tasks] == [s(105)]
