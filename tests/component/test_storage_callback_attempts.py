"""The attempt bookkeeping of the callback ledger on SQLite and PostgreSQL: stages fenced by
the claim, what a restarted router gives back and settles, and closing for do-not-call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_support import BACKENDS, migrated_store
from test_storage_callbacks import ANNA, OLGA, T0, minutes, miss

from router.domain.callback_attempt import AttemptStage
from router.domain.callback_schedule import CloseReason, TaskState
from router.storage import Store, TaskClosedError


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


async def task_of(store: Store, number: str) -> int:
    return (await store.callbacks.record_miss(miss(number))).task_id or 0


async def claimed(store: Store, number: str, by: str, *, started: bool = False) -> int:
    """A task of `number` claimed by `by` (and its attempt started, with op1001)."""
    task_id = await task_of(store, number)
    # Claim it alone: every other due task is claimed already, or not due yet.
    assert [t.id for t in await store.callbacks.claim_due(T0, by, limit=1)] == [task_id]
    if started:
        assert await store.callbacks.start_attempt(task_id, by, minutes(1), "op1001")
    return task_id


async def test_an_attempt_starts_at_the_operator_stage(store: Store) -> None:
    task_id = await claimed(store, ANNA, "router-a", started=True)
    task = await store.callbacks.get(task_id)
    assert task is not None and task.attempts == 1
    assert (task.attempt_stage, task.attempt_operator_id) == ("operator", "op1001")
    assert task.attempt_started_at == minutes(1)


async def test_the_stage_moves_only_under_our_running_attempt(store: Store) -> None:
    callbacks = store.callbacks
    task_id = await task_of(store, ANNA)
    assert not await callbacks.set_stage(task_id, "router-a", AttemptStage.PATIENT)  # open
    await callbacks.claim_due(T0, "router-a")
    assert not await callbacks.set_stage(task_id, "router-a", AttemptStage.PATIENT)  # no attempt
    assert await callbacks.start_attempt(task_id, "router-a", minutes(1), "op1002")
    assert not await callbacks.set_stage(task_id, "router-b", AttemptStage.PATIENT)  # not theirs
    assert not await callbacks.set_stage(999, "router-a", AttemptStage.PATIENT)
    for stage in (AttemptStage.PATIENT, AttemptStage.BRIDGED):
        assert await callbacks.set_stage(task_id, "router-a", stage)
        task = await callbacks.get(task_id)
        assert task is not None and task.attempt_stage == stage.value
    assert (await callbacks.interrupted(minutes(60), lease_s=60))[0].attempt_stage == "bridged"

    done = await callbacks.finish_attempt(task_id, "connected", minutes(3), None, "connected")
    assert done is not None and done.state is TaskState.CLOSED
    assert (done.attempt_stage, done.attempt_started_at, done.claimed_by) == (None, None, None)
    assert not await callbacks.set_stage(task_id, "router-a", AttemptStage.PATIENT)  # over


async def test_a_router_that_lost_its_claim_cannot_move_the_stage(store: Store) -> None:
    callbacks = store.callbacks
    task_id = await task_of(store, ANNA)
    await callbacks.claim_due(T0, "router-a", lease_s=60)
    # router-a goes silent before its operator answers; router-b takes over after the lease
    assert [t.id for t in await callbacks.claim_due(minutes(2), "router-b", lease_s=60)] == [
        task_id
    ]
    assert await callbacks.start_attempt(task_id, "router-b", minutes(2), "op1003")
    assert not await callbacks.start_attempt(task_id, "router-a", minutes(2), "op1001")
    assert not await callbacks.set_stage(task_id, "router-a", AttemptStage.PATIENT)
    task = await callbacks.get(task_id)
    assert task is not None
    assert (task.claimed_by, task.attempt_stage, task.attempt_operator_id, task.attempts) == (
        "router-b",
        "operator",
        "op1003",
        1,
    )


async def test_a_closed_task_takes_no_stage(store: Store) -> None:
    callbacks = store.callbacks
    task_id = await claimed(store, ANNA, "router-a", started=True)
    await callbacks.cancel(task_id, "admin", minutes(2))  # an admin drops it mid-attempt
    assert not await callbacks.set_stage(task_id, "router-a", AttemptStage.PATIENT)
    assert await callbacks.attempts_under_way("router-a") == []


async def test_a_task_closed_during_its_attempt_shows_no_attempt_once_it_ends(
    store: Store,
) -> None:
    callbacks = store.callbacks
    task_id = await claimed(store, ANNA, "router-a", started=True)
    await callbacks.set_stage(task_id, "router-a", AttemptStage.BRIDGED)
    await callbacks.cancel(task_id, "admin", minutes(2))  # while they talk
    # the conversation ends; the attempt reports it (the task is closed: not recorded)
    assert (
        await callbacks.finish_attempt(task_id, "connected", minutes(3), None, "connected") is None
    )
    task = await callbacks.get(task_id)
    assert task is not None and task.state is TaskState.CANCELLED
    assert (task.attempt_started_at, task.attempt_stage) == (None, None)


async def test_a_restart_gives_back_only_its_own_unstarted_claims(store: Store) -> None:
    callbacks = store.callbacks
    idle = await claimed(store, "+79160000001", "router-a")
    dialling = await claimed(store, "+79160000002", "router-a", started=True)
    working = await claimed(store, "+79160000003", "router-a")  # still waits for an operator
    other = await claimed(store, "+79160000004", "router-b")
    not_due = (await callbacks.record_miss(miss("+79160000005", due_at=minutes(60)))).task_id

    assert await callbacks.release_unstarted("router-a", keep={working: "an attempt"}) == 1
    tasks = {t.id: t for t in await callbacks.list(limit=10)}
    assert tasks[idle].state is TaskState.OPEN
    assert (tasks[idle].claimed_by, tasks[idle].claimed_at) == (None, None)
    assert tasks[idle].due_at == T0  # its due time is kept: it is due again at once
    assert (tasks[dialling].state, tasks[dialling].claimed_by) == (TaskState.CLAIMED, "router-a")
    assert (tasks[working].state, tasks[working].claimed_by) == (TaskState.CLAIMED, "router-a")
    assert (tasks[other].state, tasks[other].claimed_by) == (TaskState.CLAIMED, "router-b")
    assert not_due is not None and tasks[not_due].state is TaskState.OPEN

    assert await callbacks.release_unstarted("router-a") == 1  # no longer kept: `working`
    assert await callbacks.release_unstarted("router-a") == 0
    assert await callbacks.release_unstarted("router-b", keep=[]) == 1
    again = await callbacks.claim_due(T0, "router-b", limit=10)
    assert sorted(t.id for t in again) == sorted([idle, working, other])


async def test_attempts_under_way_are_the_started_ones_of_that_router(store: Store) -> None:
    callbacks = store.callbacks
    ours = await claimed(store, ANNA, "router-a", started=True)
    await claimed(store, OLGA, "router-a")  # claimed, no attempt
    theirs = await claimed(store, "+79160000003", "router-b", started=True)
    await callbacks.set_stage(ours, "router-a", AttemptStage.PATIENT)

    [under_way] = await callbacks.attempts_under_way("router-a")
    assert (under_way.id, under_way.attempts, under_way.attempt_stage) == (ours, 1, "patient")
    assert under_way.attempt_operator_id == "op1001"
    assert [t.id for t in await callbacks.attempts_under_way("router-b")] == [theirs]
    assert await callbacks.attempts_under_way("router-c") == []

    await callbacks.finish_attempt(ours, "no_answer", minutes(2), minutes(32), None)
    assert await callbacks.attempts_under_way("router-a") == []
    reopened = await callbacks.get(ours)
    assert reopened is not None and reopened.state is TaskState.OPEN
    assert (reopened.attempt_stage, reopened.last_outcome) == (None, "no_answer")


async def test_an_interrupted_attempt_is_due_again_and_not_counted(store: Store) -> None:
    callbacks = store.callbacks
    task_id = await claimed(store, ANNA, "router-a", started=True)
    back = await callbacks.finish_attempt(task_id, "interrupted", minutes(2), minutes(2), None)
    assert back is not None and back.state is TaskState.OPEN
    # It never reached the patient: max_attempts is theirs, not the router's restarts'.
    assert (back.last_outcome, back.attempts, back.due_at) == ("interrupted", 0, minutes(2))
    assert [t.id for t in await callbacks.claim_due(minutes(2), "router-b")] == [task_id]
    assert await callbacks.start_attempt(task_id, "router-b", minutes(3), "op1002")
    again = await callbacks.finish_attempt(task_id, "no_answer", minutes(4), minutes(34), None)
    assert again is not None and again.attempts == 1


async def test_due_lists_without_claiming_and_claim_takes_only_the_chosen(store: Store) -> None:
    callbacks = store.callbacks
    anna, olga = await task_of(store, ANNA), await task_of(store, OLGA)
    assert [t.id for t in await callbacks.due(T0, limit=10)] == [anna, olga]
    assert [t.id for t in await callbacks.due(T0, limit=10)] == [anna, olga]  # still open
    assert [t.id for t in await callbacks.claim_due(T0, "router-a", 5, among=[olga])] == [olga]
    assert [t.id for t in await callbacks.due(T0, limit=10)] == [anna]


async def test_a_miss_that_makes_a_task_tells_the_listeners(store: Store) -> None:
    told: list[int] = []
    store.callbacks.add_task_listener(lambda: told.append(1))
    await store.callbacks.record_miss(miss(ANNA))
    await store.callbacks.record_miss(miss(None))  # anonymous: no task
    assert told == [1]


async def test_close_for_do_not_call(store: Store) -> None:
    callbacks = store.callbacks
    held = await claimed(store, OLGA, "router-a")
    waiting = await task_of(store, ANNA)
    for task_id in (waiting, held):
        closed = await callbacks.close(task_id, CloseReason.DO_NOT_CALL, minutes(1), "router-a")
        assert closed is not None and closed.state is TaskState.CLOSED
        assert (closed.close_reason, closed.closed_by, closed.closed_at) == (
            "do_not_call",
            "router-a",
            minutes(1),
        )
    assert not await callbacks.start_attempt(held, "router-a", minutes(2))  # never dialled
    assert await callbacks.claim_due(minutes(5), "router-b", limit=5) == []
    with pytest.raises(TaskClosedError):
        await callbacks.close(waiting, CloseReason.DO_NOT_CALL, minutes(3), "router-b")
    assert await callbacks.close(999, CloseReason.DO_NOT_CALL, minutes(3), "router-a") is None
    summary = await callbacks.summary(minutes(10))
    assert summary.closed_by_reason == {"do_not_call": 2} and summary.open_tasks == 0
    # The number is free again: the next miss opens a new task.
    assert (await callbacks.record_miss(miss(ANNA, at=minutes(9)))).created
