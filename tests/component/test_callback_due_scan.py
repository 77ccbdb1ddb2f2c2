"""The dispatcher's paging through due callback tasks (`DueScan`) on SQLite and
PostgreSQL: keyset pages cover the due list once, in dispatch order, ties included, and a
tick's budget ends at a cursor the next tick carries on from, after the head again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_support import BACKENDS, migrated_store
from test_storage_callbacks import T0, minutes, miss

from router.engine.callbacks import due_scan
from router.engine.callbacks.due_scan import DueScan
from router.storage import Store
from router.storage.callbacks import dispatch_key
from router.storage.models import CallbackTask

NOW = minutes(60)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


async def backlog(store: Store, n: int) -> list[int]:
    """`n` due tasks: every third missed twice (a higher priority), pairs missed at the
    same instant (ties broken by id). Their ids in dispatch order."""
    for i in range(n):
        number = f"+7916000{i:04d}"
        at = minutes(i // 2)
        await store.callbacks.record_miss(miss(number, at))
        if i % 3 == 0:
            await store.callbacks.record_miss(miss(number, at))
    everything = await store.callbacks.due(NOW, 10 * n)
    assert len(everything) == n
    return [t.id for t in everything]


async def test_keyset_pages_list_every_due_task_once_in_dispatch_order(store: Store) -> None:
    order = await backlog(store, 23)
    seen: list[int] = []
    after = None
    while page := await store.callbacks.due(NOW, 4, after=after):
        seen += [t.id for t in page]
        after = dispatch_key(page[-1])
    assert seen == order
    assert await store.callbacks.due(T0 - (minutes(1) - T0), 4) == []  # none due yet


async def test_a_tick_stops_at_its_budget_and_the_next_carries_on_after_the_head(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(due_scan, "PAGE", 3)
    monkeypatch.setattr(due_scan, "PAGES_PER_TICK", 2)
    order = await backlog(store, 14)
    scan = DueScan(store.callbacks)
    ticks: list[list[int]] = []

    async def tick() -> int:
        looked: list[int] = []

        def pick(page: list[CallbackTask]) -> bool:
            looked.extend(t.id for t in page)
            return False  # nobody may take any of them

        pages = await scan.scan(NOW, pick, lease_s=300)
        ticks.append(looked)
        return pages

    assert await tick() == 2
    assert ticks[0] == order[:6]
    assert await tick() == 2
    assert ticks[1] == order[:3] + order[6:9]  # the head, then on from the cursor
    await tick()
    await tick()
    assert ticks[2] == order[:3] + order[9:12]
    assert ticks[3] == order[:3] + order[12:14]  # the list ended: the cursor is dropped
    assert scan.cursor is None
    await tick()
    assert ticks[4] == order[:6]


async def test_a_tick_that_found_what_it_looked_for_reads_one_page(store: Store) -> None:
    await backlog(store, 5)
    scan = DueScan(store.callbacks)
    assert await scan.scan(NOW, lambda page: True, lease_s=300) == 1
