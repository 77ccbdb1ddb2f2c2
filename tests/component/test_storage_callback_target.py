"""The ledger keeps where a miss was meant to go (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storage_support import BACKENDS, empty_database

from router.domain.miss_target import MissTarget
from router.storage import MissInput, Store
from router.storage.migrate import migrate

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNA = "+79161234567"
LAB = MissTarget(line="moscow", queue="lab", operator="op1003")
_calls = itertools.count(1)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with empty_database(request.param, tmp_path) as url:
        await migrate(url)
        opened = await Store.open(url, clock=lambda: T0)
        yield opened
        await opened.close()


def miss(minutes: float, target: MissTarget | None) -> MissInput:
    at = T0 + timedelta(minutes=minutes)
    return MissInput(
        call_id=f"call-{next(_calls)}",
        line="moscow",
        number_e164=ANNA,
        patient_id=None,
        reason="max_wait",
        waited_s=30.0,
        missed_at=at,
        due_at=at,
        create_task=True,
        target=target,
    )


async def test_a_new_task_keeps_its_miss_target(store: Store) -> None:
    result = await store.callbacks.record_miss(miss(0, LAB))
    assert result.task_id is not None
    task = await store.callbacks.get(result.task_id)
    assert task is not None and task.target == LAB


async def test_a_repeat_miss_with_a_target_replaces_it(store: Store) -> None:
    first = await store.callbacks.record_miss(miss(0, LAB))
    skills = MissTarget(line="moscow", skills=("paid", "dms"), min_level=3)
    await store.callbacks.record_miss(miss(5, skills))
    assert first.task_id is not None
    task = await store.callbacks.get(first.task_id)
    assert task is not None and task.target == skills


async def test_a_repeat_miss_without_a_target_keeps_the_tasks(store: Store) -> None:
    first = await store.callbacks.record_miss(miss(0, LAB))
    await store.callbacks.record_miss(miss(5, None))  # the dialplan fallback knows no queue
    await store.callbacks.record_miss(miss(6, MissTarget(line="moscow")))  # only the line
    assert first.task_id is not None
    task = await store.callbacks.get(first.task_id)
    assert task is not None and task.target == LAB


async def test_a_task_without_a_target_reads_as_none(store: Store) -> None:
    result = await store.callbacks.record_miss(miss(0, None))
    assert result.task_id is not None
    task = await store.callbacks.get(result.task_id)
    assert task is not None and task.target is None
