"""The callback ledger on SQLite and PostgreSQL: capture, claiming, attempts, figures."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from storage_support import BACKENDS, empty_database

from router.domain.callback_schedule import ACTIVE_STATES, TaskState
from router.storage import MissInput, Store, TaskClosedError
from router.storage.migrate import migrate
from router.storage.tables import ACTIVE_TASK, callback_tasks

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNA = "+79161234567"
OLGA = "+79167654321"
_calls = itertools.count(1)


@pytest.fixture(params=BACKENDS)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database(request.param, tmp_path) as empty:
        await migrate(empty)
        yield empty


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    opened = await Store.open(url, clock=lambda: T0)
    yield opened
    await opened.close()


def miss(number: str | None = ANNA, at: datetime = T0, **fields: Any) -> MissInput:
    base = MissInput(
        call_id=f"call-{next(_calls)}",
        line="moscow",
        number_e164=number,
        patient_id="p1" if number else None,
        reason="abandoned",
        waited_s=12.5,
        missed_at=at,
        due_at=at,
        create_task=True,
        priority_raise=1,
    )
    return replace(base, **fields)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def test_the_index_predicate_is_the_active_states() -> None:
    assert ACTIVE_TASK == "state IN ('open', 'claimed')"
    assert {s.value for s in ACTIVE_STATES} == {"open", "claimed"}


async def test_a_further_miss_updates_the_open_task(store: Store) -> None:
    first = await store.callbacks.record_miss(miss(due_at=minutes(30)))
    assert first.created and first.miss_count == 1 and first.task_id is not None
    second = await store.callbacks.record_miss(
        miss(at=minutes(10), reason="max_wait", due_at=minutes(12), priority_raise=2)
    )
    third = await store.callbacks.record_miss(miss(at=minutes(20), reason="abandoned"))
    assert (second.created, second.task_id, second.miss_count) == (False, first.task_id, 2)
    assert (third.task_id, third.miss_count) == (first.task_id, 3)

    task = await store.callbacks.get(first.task_id)
    assert task is not None
    assert task.state is TaskState.OPEN
    assert task.reasons == ("abandoned", "max_wait")
    assert (task.miss_count, task.priority) == (3, 3)
    assert (task.first_missed_at, task.last_missed_at) == (T0, minutes(20))
    assert task.due_at == minutes(12)  # the earliest due time wins
    assert task.created_at == T0 and task.dial_number == ANNA
    assert [m.reason for m in await store.callbacks.misses_of(first.task_id)] == [
        "abandoned",
        "max_wait",
        "abandoned",
    ]


async def test_a_miss_is_recorded_once_per_call(store: Store) -> None:
    once = miss()
    first = await store.callbacks.record_miss(once)
    again = await store.callbacks.record_miss(replace(once, reason="no_operator"))
    assert again.duplicate and (again.miss_id, again.task_id) == (first.miss_id, first.task_id)
    assert again.miss_count == 1
    task = await store.callbacks.get(first.task_id or 0)
    assert task is not None and task.miss_count == 1


async def test_calls_with_a_miss_of_a_reason(store: Store) -> None:
    kept = miss(reason="keep_place", keep_place=True, place_at=T0)
    await store.callbacks.record_miss(kept)
    other = miss(number=None)
    await store.callbacks.record_miss(other)
    asked = [kept.call_id, other.call_id, "call-unknown"]
    assert await store.callbacks.calls_with_miss(asked, "keep_place") == {kept.call_id}
    assert await store.callbacks.calls_with_miss([], "keep_place") == set()


async def test_anonymous_and_policy_refused_misses_make_no_task(store: Store) -> None:
    anonymous = await store.callbacks.record_miss(miss(None))
    short = await store.callbacks.record_miss(miss(OLGA, create_task=False, waited_s=1))
    assert (anonymous.task_id, anonymous.created) == (None, False)
    assert short.task_id is None
    assert await store.callbacks.list() == []
    summary = await store.callbacks.summary(minutes(1))
    assert (summary.misses, summary.lost_anonymous, summary.open_tasks) == (2, 1, 0)


@pytest.mark.parametrize(
    "fields",
    [
        {"number_e164": "89161234567"},
        {"callback_number": "+7 916"},
        {"reason": ""},
        {"waited_s": float("nan")},
        {"waited_s": -1.0},
        {"call_id": ""},
    ],
)
async def test_bad_misses_are_refused_before_writing(store: Store, fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        await store.callbacks.record_miss(miss(**fields))
    assert (await store.callbacks.summary(T0)).misses == 0


async def test_closing_frees_the_number_for_a_new_task(store: Store) -> None:
    first = await store.callbacks.record_miss(miss())
    other = await store.callbacks.record_miss(miss(OLGA, callback_number="+74951112233"))
    close = store.callbacks.close_for_number
    assert await close(ANNA, "reached_operator", minutes(5), "in-7") == [first.task_id]
    assert await close(ANNA, "reached_operator", minutes(6), None) == []
    # The number the caller asked to be called on closes the task too.
    assert await close("+74951112233", "connected", minutes(6), None) == [other.task_id]
    closed = await store.callbacks.get(first.task_id or 0)
    assert closed is not None and closed.state is TaskState.CLOSED
    assert (closed.close_reason, closed.closed_call_id, closed.closed_at) == (
        "reached_operator",
        "in-7",
        minutes(5),
    )
    again = await store.callbacks.record_miss(miss(at=minutes(9)))
    assert again.created and again.task_id != first.task_id and again.miss_count == 1


async def test_one_active_task_per_number_is_enforced_by_the_database(store: Store) -> None:
    await store.callbacks.record_miss(miss())
    row = {
        "number_e164": ANNA,
        "state": "open",
        "reasons": [],
        "miss_count": 1,
        "first_missed_at": T0,
        "last_missed_at": T0,
        "due_at": T0,
        "created_at": T0,
    }
    with pytest.raises(IntegrityError):
        async with store.db.begin() as conn:
            await conn.execute(insert(callback_tasks).values(row))
    async with store.db.begin() as conn:  # a closed task of the same number is fine
        await conn.execute(insert(callback_tasks).values({**row, "state": "closed"}))


async def test_claims_follow_priority_then_the_original_place(store: Store) -> None:
    # Created in the opposite order of their places: creation time must not decide.
    late = await store.callbacks.record_miss(miss("+79160000003", at=minutes(3)))
    keeps_place = await store.callbacks.record_miss(
        miss("+79160000002", at=minutes(4), place_at=minutes(1), keep_place=True)
    )
    early = await store.callbacks.record_miss(miss("+79160000001", at=minutes(2)))
    urgent = await store.callbacks.record_miss(miss("+79160000004", at=minutes(5)))
    await store.callbacks.record_miss(miss("+79160000004", at=minutes(5)))  # priority 1
    not_due = await store.callbacks.record_miss(miss("+79160000005", due_at=minutes(60)))

    claimed = await store.callbacks.claim_due(minutes(10), "router-a", limit=10)
    assert [t.id for t in claimed] == [
        urgent.task_id,
        keeps_place.task_id,
        early.task_id,
        late.task_id,
    ]
    assert all(t.state is TaskState.CLAIMED and t.claimed_by == "router-a" for t in claimed)
    assert await store.callbacks.claim_due(minutes(10), "router-b", limit=10) == []
    later = await store.callbacks.claim_due(minutes(61), "router-b", limit=10, lease_s=3600)
    assert [t.id for t in later] == [not_due.task_id]


async def test_a_stale_claim_is_taken_over_only_before_dialling(store: Store) -> None:
    a = await store.callbacks.record_miss(miss(ANNA))
    b = await store.callbacks.record_miss(miss(OLGA))
    callbacks = store.callbacks
    assert len(await callbacks.claim_due(T0, "router-a", limit=2, lease_s=60)) == 2
    assert await callbacks.start_attempt(b.task_id or 0, "router-a", minutes(0.5))
    # router-a goes silent; after the lease router-b takes over the undialled task only.
    assert await callbacks.claim_due(minutes(0.9), "router-b", limit=5, lease_s=60) == []
    taken = await callbacks.claim_due(minutes(2), "router-b", limit=5, lease_s=60)
    assert [t.id for t in taken] == [a.task_id]
    assert not await callbacks.start_attempt(a.task_id or 0, "router-a", minutes(2))  # fenced
    assert await callbacks.start_attempt(a.task_id or 0, "router-b", minutes(2))
    assert not await callbacks.start_attempt(a.task_id or 0, "router-b", minutes(2))  # once
    interrupted = await callbacks.interrupted(minutes(2), lease_s=60)
    assert [t.id for t in interrupted] == [b.task_id]
    assert interrupted[0].attempts == 1


async def test_finishing_an_attempt_reopens_or_closes(store: Store) -> None:
    callbacks = store.callbacks
    task_id = (await callbacks.record_miss(miss())).task_id or 0
    await callbacks.claim_due(T0, "r1")
    with pytest.raises(ValueError, match="exactly one"):
        await callbacks.finish_attempt(task_id, "no_answer", T0, None, None)
    assert await callbacks.finish_attempt(task_id, "no_answer", T0, minutes(30), None) is None
    assert await callbacks.start_attempt(task_id, "r1", minutes(1))
    retry = await callbacks.finish_attempt(task_id, "no_answer", minutes(2), minutes(32), None)
    assert retry is not None and retry.state is TaskState.OPEN
    assert (retry.attempts, retry.last_outcome, retry.due_at) == (1, "no_answer", minutes(32))
    assert (retry.claimed_by, retry.attempt_started_at) == (None, None)
    assert retry.last_attempt_at == minutes(1)

    assert await callbacks.claim_due(minutes(31), "r1") == []
    assert [t.id for t in await callbacks.claim_due(minutes(32), "r1")] == [task_id]
    assert await callbacks.release(task_id, "r1", minutes(40))
    await callbacks.claim_due(minutes(40), "r1")
    await callbacks.start_attempt(task_id, "r1", minutes(41))
    done = await callbacks.finish_attempt(task_id, "busy", minutes(42), None, "unreachable")
    assert done is not None and done.state is TaskState.UNREACHABLE
    assert (done.attempts, done.close_reason, done.closed_at) == (2, "unreachable", minutes(42))


async def test_people_cancel_or_mark_done(store: Store) -> None:
    callbacks = store.callbacks
    one = (await callbacks.record_miss(miss(ANNA))).task_id or 0
    two = (await callbacks.record_miss(miss(OLGA))).task_id or 0
    cancelled = await callbacks.cancel(one, "admin", minutes(1))
    assert cancelled is not None and cancelled.state is TaskState.CANCELLED
    assert (cancelled.closed_by, cancelled.close_reason) == ("admin", "cancelled")
    done = await callbacks.done(two, "op1001", minutes(2), "called from the desk phone")
    assert done is not None and done.state is TaskState.DONE
    assert (done.closed_by, done.note) == ("op1001", "called from the desk phone")
    with pytest.raises(TaskClosedError) as info:
        await callbacks.done(one, "op1001", minutes(3))
    assert info.value.task.state is TaskState.CANCELLED
    assert await callbacks.cancel(999, "admin", minutes(3)) is None


async def test_list_filters_and_pages(store: Store) -> None:
    callbacks = store.callbacks
    old = await callbacks.record_miss(miss("+79160000001", at=T0))
    await callbacks.record_miss(miss("+79160000002", at=minutes(50), line="ryazan"))
    closed = await callbacks.record_miss(miss("+79160000003", at=minutes(10)))
    await callbacks.cancel(closed.task_id or 0, "admin", minutes(55))

    now = minutes(60)
    assert [t.number_e164 for t in await callbacks.list(now=now)] == [
        "+79160000001",
        "+79160000002",
        "+79160000003",  # closed ones after the active ones
    ]
    assert [t.line for t in await callbacks.list(line="ryazan")] == ["ryazan"]
    assert [t.id for t in await callbacks.list(state="cancelled")] == [closed.task_id]
    aged = await callbacks.list(state=TaskState.OPEN, min_age_s=30 * 60, now=now)
    assert [t.id for t in aged] == [old.task_id]
    assert len(await callbacks.list(limit=1, offset=2)) == 1
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"state": "lost"}):
        with pytest.raises(ValueError):
            await callbacks.list(**bad)


async def test_summary_figures(store: Store) -> None:
    callbacks = store.callbacks
    for number, talk_after in (("+79160000001", 10), ("+79160000002", 30)):
        task_id = (await callbacks.record_miss(miss(number))).task_id or 0
        await callbacks.claim_due(T0, "r1")
        await callbacks.start_attempt(task_id, "r1", minutes(talk_after - 1))
        await callbacks.finish_attempt(task_id, "connected", minutes(talk_after), None, "connected")
    await callbacks.record_miss(miss("+79160000003"))
    await callbacks.close_for_number("+79160000003", "reached_operator", minutes(5), "c9")
    await callbacks.record_miss(miss("+79160000004", at=minutes(40)))
    await callbacks.record_miss(miss(None))

    summary = await callbacks.summary(minutes(100))
    assert summary.open_tasks == 1 and summary.oldest_open_age_s == 60 * 60
    assert (summary.misses, summary.lost_anonymous, summary.closed) == (5, 1, 3)
    assert summary.closed_by_reason == {"connected": 2, "reached_operator": 1}
    assert summary.median_time_to_callback_s == 20 * 60
    assert summary.share_closed_connected == pytest.approx(2 / 3)
    recent = await callbacks.summary(minutes(100), since=minutes(20))
    assert (recent.misses, recent.closed, recent.median_time_to_callback_s) == (1, 1, 30 * 60)
    empty = await callbacks.summary(minutes(100), since=minutes(99))
    assert (empty.median_time_to_callback_s, empty.share_closed_connected) == (None, None)


async def test_concurrent_misses_of_one_number_make_one_task(url: str) -> None:
    # Two routers (two engines, two pools) recording the same patient's misses at once.
    stores = [await Store.open(url), await Store.open(url)]
    try:
        results = await asyncio.gather(
            *(stores[i % 2].callbacks.record_miss(miss(at=minutes(i))) for i in range(12))
        )
        assert {r.task_id for r in results} == {results[0].task_id}
        assert sum(r.created for r in results) == 1
        assert sorted(r.miss_count for r in results) == list(range(1, 13))
        [task] = await stores[0].callbacks.list()
        assert task.miss_count == 12 and task.priority == 11
    finally:
        for opened in stores:
            await opened.close()


async def test_misses_racing_closes_never_leave_two_active_tasks(url: str) -> None:
    stores = [await Store.open(url), await Store.open(url)]
    try:

        async def close(i: int) -> None:
            await stores[i % 2].callbacks.close_for_number(ANNA, "connected", minutes(i), None)

        jobs: list[Coroutine[Any, Any, object]] = [
            stores[i % 2].callbacks.record_miss(miss(at=minutes(i))) for i in range(20)
        ]
        jobs += [close(i) for i in range(0, 20, 3)]
        results = await asyncio.gather(*jobs)
        tasks = await stores[0].callbacks.list(limit=500)
        assert sum(t.state in ACTIVE_STATES for t in tasks) <= 1
        recorded = [r for r in results if r is not None]
        assert sum(t.miss_count for t in tasks) == len(recorded) == 20
    finally:
        for opened in stores:
            await opened.close()


async def test_two_dispatchers_claim_each_task_exactly_once(url: str) -> None:
    setup = await Store.open(url)
    try:
        for i in range(120):
            await setup.callbacks.record_miss(miss(f"+7916{i:07d}", at=T0 + timedelta(seconds=i)))
    finally:
        await setup.close()
    dispatchers = [await Store.open(url), await Store.open(url)]
    claims: dict[str, list[int]] = {"a": [], "b": []}

    async def worker(name: str, opened: Store) -> None:
        while batch := await opened.callbacks.claim_due(minutes(10), f"router-{name}", limit=3):
            claims[name].extend(t.id for t in batch)
            for task in batch:  # the fence: only the claimer may start dialling
                assert await opened.callbacks.start_attempt(task.id, f"router-{name}", minutes(10))

    try:
        await asyncio.gather(
            *(
                worker(name, opened)
                for name, opened in zip("ab", dispatchers, strict=True)
                for _ in range(4)  # four dispatch loops per router
            )
        )
    finally:
        for opened in dispatchers:
            await opened.close()
    every = claims["a"] + claims["b"]
    assert len(every) == len(set(every)) == 120
    if "postgresql" in url:
        assert claims["a"] and claims["b"]  # both really competed
