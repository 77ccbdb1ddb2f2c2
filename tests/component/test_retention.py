"""Pruning the history past its retention (`router/storage/retention.py`) on SQLite and
PostgreSQL: what goes, what goes with it, and what stays whatever its age."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, insert, select
from storage_support import BACKENDS, migrated_store

from router.config.retention_settings import RetentionSettings
from router.config.settings import load_settings
from router.engine.retention import prune_every
from router.storage import Store
from router.storage.retention import Plan, Pruner
from router.storage.tables import (
    audit_log,
    call_events,
    callback_rings,
    callback_tasks,
    calls,
    misses,
    operator_states,
    ring_attempts,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAYS = {"calls": 730, "callbacks": 730, "operator_states": 730, "audit_log": 1095}
PLAN = Plan(DAYS, batch_rows=3, pause_s=0)  # small batches: several per table


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


async def put(store: Store, table: Table, *rows: dict[str, Any]) -> list[int]:
    async with store.db.begin() as conn:
        result = await conn.execute(insert(table).returning(table.c.id), list(rows))
        return [r[0] for r in result.all()]


async def count(store: Store, table: Table) -> int:
    async with store.db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def ids(store: Store, table: Table) -> set[Any]:
    async with store.db.connect() as conn:
        return {r[0] for r in (await conn.execute(select(table.c.id))).all()}


async def a_call(store: Store, call_id: str, started: datetime, *, ended: bool = True) -> None:
    await put(
        store,
        calls,
        {
            "id": call_id,
            "app": "clinic-router",
            "caller_raw": "79161234567",
            "did": "74952232222",
            "started_at": started,
            "ended_at": started + timedelta(minutes=3) if ended else None,
            "tried_operators": [],
        },
    )
    await put(
        store,
        call_events,
        *({"call_id": call_id, "at": started, "kind": k, "data": {}} for k in ("new", "end")),
    )
    await put(
        store, ring_attempts, {"call_id": call_id, "operator_id": "op1", "started_at": started}
    )


async def a_task(store: Store, number: str, missed: datetime, *, closed: bool) -> int:
    [task_id] = await put(
        store,
        callback_tasks,
        {
            "number_e164": number,
            "state": "closed" if closed else "open",
            "reasons": ["abandoned"],
            "miss_count": 1,
            "first_missed_at": missed,
            "last_missed_at": missed,
            "due_at": missed,
            "created_at": missed,
            "closed_at": missed + timedelta(hours=1) if closed else None,
            "close_reason": "connected" if closed else None,
        },
    )
    await put(
        store,
        callback_rings,
        {
            "task_id": task_id,
            "attempt": 1,
            "party": "operator",
            "operator_id": "op1",
            "channel_id": f"cb-{task_id}",
            "started_at": missed,
            "ended_at": missed,
            "result": "answered",
            "duration_ms": 1,
        },
    )
    return task_id


async def a_miss(store: Store, call_id: str, at: datetime, task_id: int | None) -> None:
    await put(
        store,
        misses,
        {
            "call_id": call_id,
            "reason": "abandoned",
            "waited_s": 5.0,
            "missed_at": at,
            "task_id": task_id,
        },
    )


async def test_old_ended_calls_go_with_their_journeys_and_rings(store: Store) -> None:
    for i in range(7):  # more than two batches
        await a_call(store, f"old-{i}", ago(800 + i))
    await a_call(store, "recent", ago(10))
    await a_call(store, "never-ended", ago(900), ended=False)
    await a_call(store, "task-open", ago(900))
    await a_miss(store, "task-open", ago(900), await a_task(store, "+1", ago(900), closed=False))
    pruner = Pruner(store.db)
    assert (await pruner.count(PLAN, NOW))["calls"] == 7
    deleted = await pruner.prune(PLAN, NOW)
    assert deleted["calls"] == 7
    assert await ids(store, calls) == {"recent", "never-ended", "task-open"}
    assert await count(store, call_events) == 6  # two each, of the calls kept
    assert await count(store, ring_attempts) == 3
    assert (await pruner.count(PLAN, NOW))["calls"] == 0


async def test_closed_old_tasks_go_with_their_misses_and_rings_open_ones_stay(
    store: Store,
) -> None:
    old_closed = await a_task(store, "+1", ago(800), closed=True)
    old_open = await a_task(store, "+2", ago(800), closed=False)
    recent_closed = await a_task(store, "+3", ago(100), closed=True)
    for task_id, call_id in ((old_closed, "a"), (old_open, "b"), (recent_closed, "c")):
        await a_miss(store, call_id, ago(800), task_id)
    await a_miss(store, "loose-old", ago(800), None)  # withheld number: no task
    await a_miss(store, "loose-new", ago(5), None)
    deleted = await Pruner(store.db).prune(PLAN, NOW)
    assert (deleted["callback_tasks"], deleted["misses"]) == (1, 1)
    assert await ids(store, callback_tasks) == {old_open, recent_closed}
    async with store.db.connect() as conn:
        kept = {r[0] for r in (await conn.execute(select(misses.c.call_id))).all()}
    assert kept == {"b", "c", "loose-new"}
    assert await count(store, callback_rings) == 2


async def test_each_operator_keeps_their_last_state_before_the_cutoff(store: Store) -> None:
    def state(op: str, days: float, name: str) -> dict[str, Any]:
        return {"operator_id": op, "state": name, "at": ago(days)}

    await put(
        store,
        operator_states,
        state("op1", 900, "available"),
        state("op1", 800, "paused"),
        state("op1", 760, "available"),  # their state when the kept history begins
        state("op1", 10, "paused"),
        state("op2", 1000, "paused"),  # op2's only old change: their state since
        state("op3", 5, "available"),
    )
    deleted = await Pruner(store.db).prune(PLAN, NOW)
    assert deleted["operator_states"] == 2
    async with store.db.connect() as conn:
        rows = (
            await conn.execute(
                select(operator_states.c.operator_id, operator_states.c.state).order_by(
                    operator_states.c.operator_id, operator_states.c.at
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("op1", "available"),
        ("op1", "paused"),
        ("op2", "paused"),
        ("op3", "available"),
    ]


async def test_the_audit_log_is_kept_longer_and_null_keeps_for_ever(store: Store) -> None:
    def entry(days: float) -> dict[str, Any]:
        return {"at": ago(days), "actor": "admin", "action": "sign_in", "ok": True, "details": {}}

    await put(store, audit_log, entry(1200), entry(1100), entry(800), entry(1))
    pruner = Pruner(store.db)
    forever = Plan({**DAYS, "audit_log": None}, batch_rows=3, pause_s=0)
    assert "audit_log" not in await pruner.count(forever, NOW)
    assert await pruner.prune(forever, NOW) == {
        "calls": 0,
        "callback_tasks": 0,
        "misses": 0,
        "operator_states": 0,
    }
    assert await count(store, audit_log) == 4
    assert (await pruner.prune(PLAN, NOW))["audit_log"] == 2
    assert await count(store, audit_log) == 2


class _Said(logging.Handler):
    """Sets `event` when the pruning logs a pass."""

    def __init__(self) -> None:
        super().__init__()
        self.event = asyncio.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.event.set()


async def test_the_router_prunes_on_its_own_and_says_so(store: Store) -> None:
    await put(store, audit_log, {"at": ago(2000), "action": "x", "ok": True, "details": {}})
    said = _Said()
    logger = logging.getLogger("router.engine.retention")
    logger.addHandler(said)
    logger.setLevel(logging.INFO)
    task = asyncio.create_task(
        prune_every(Pruner(store.db), RetentionSettings(), lambda: NOW, first_s=0)
    )
    try:
        async with asyncio.timeout(10):
            await said.event.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        logger.removeHandler(said)
        logger.setLevel(logging.NOTSET)
    assert said.lines == [
        "retention: pruned 0 calls, 0 callback_tasks, 0 misses, 0 operator_states, 1 audit_log"
    ]
    assert await count(store, audit_log) == 0


async def test_without_a_retention_section_the_router_prunes_nothing(
    store: Store, tmp_path: Path
) -> None:
    """An upgraded router.yaml (no `retention:`): the router's task, given what app.py
    gives it (`settings.retention`), says once that nothing is pruned and ends; years-old
    history stays."""
    (tmp_path / "rules.yaml").write_text("operators: []\n", encoding="utf-8")
    (tmp_path / "router.yaml").write_text("logging:\n  level: INFO\n", encoding="utf-8")
    env = {"CLINIC_ROUTER_ARI_PASSWORD": "s" * 12, "CLINIC_ROUTER_API_TOKEN": "t" * 24}
    settings = load_settings(tmp_path / "router.yaml", env=env)
    await put(store, audit_log, {"at": ago(2000), "action": "x", "ok": True, "details": {}})
    await a_call(store, "old-call", ago(1000))
    said = _Said()
    logger = logging.getLogger("router.engine.retention")
    logger.addHandler(said)
    logger.setLevel(logging.INFO)
    try:
        async with asyncio.timeout(10):  # ends by itself: no sleep, no loop
            await prune_every(Pruner(store.db), settings.retention, lambda: NOW, first_s=0)
    finally:
        logger.removeHandler(said)
        logger.setLevel(logging.NOTSET)
    assert said.lines == [
        "retention: not configured (no `retention:` in router.yaml): nothing is pruned"
    ]
    assert await count(store, audit_log) == 1
    assert await ids(store, calls) == {"old-call"}
