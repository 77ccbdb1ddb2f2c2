"""Operators mirrored from the configuration, keeping their live state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from storage_support import BACKENDS, migrated_store

from router.domain.operators import Operator, Presence
from router.storage import OperatorRepository, OperatorSync, Store

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def repo(store: Store) -> OperatorRepository:
    return OperatorRepository(store.db, clock=lambda: T0)


ANNA = Operator(id="op1", name="Anna", endpoint="PJSIP/op1001", team="adults", branch="centre")
BORIS = Operator(id="op2", name="Boris", endpoint="PJSIP/op1002")


async def test_new_operators_start_offline(store: Store) -> None:
    assert await repo(store).sync([BORIS, ANNA]) == OperatorSync(added=("op2", "op1"), removed=())
    rows = await store.operators.list()
    assert [r.id for r in rows] == ["op1", "op2"]
    anna = rows[0]
    assert (anna.name, anna.endpoint, anna.team, anna.branch) == (
        "Anna",
        "PJSIP/op1001",
        "adults",
        "centre",
    )
    assert anna.state is Presence.OFFLINE
    assert anna.configured
    assert anna.state_changed_at == T0
    assert (anna.calls_today, anna.consecutive_no_answers, anna.idle_since) == (0, 0, None)


async def test_resync_updates_configuration_and_keeps_state(store: Store) -> None:
    await repo(store).sync([ANNA, BORIS])
    assert await store.operators.save_state(
        "op1",
        presence=Presence.AVAILABLE,
        reason="login",
        changed_at=T1,
        idle_since=T1,
        calls_today=7,
        consecutive_no_answers=2,
    )
    moved = Operator(id="op1", name="Anna K.", endpoint="PJSIP/op1003", team="kids", branch=None)
    assert await repo(store).sync([moved, BORIS]) == OperatorSync(added=(), removed=())

    anna = (await store.operators.list())[0]
    assert (anna.name, anna.endpoint, anna.team, anna.branch) == (
        "Anna K.",
        "PJSIP/op1003",
        "kids",
        None,
    )
    assert anna.state is Presence.AVAILABLE
    assert (anna.state_reason, anna.state_changed_at, anna.idle_since) == ("login", T1, T1)
    assert (anna.calls_today, anna.consecutive_no_answers) == (7, 2)


async def test_removed_operators_go_offline_and_stay(store: Store) -> None:
    await repo(store).sync([ANNA, BORIS])
    await store.operators.save_state(
        "op2",
        presence="on_call",
        reason=None,
        changed_at=T0,
        idle_since=None,
        calls_today=3,
        consecutive_no_answers=0,
    )
    assert await repo(store).sync([ANNA]) == OperatorSync(added=(), removed=("op2",))
    boris = (await store.operators.list())[1]
    assert (boris.id, boris.configured, boris.state) == ("op2", False, Presence.OFFLINE)
    assert boris.state_reason == "removed from configuration"
    assert boris.calls_today == 3

    # Syncing again reports nothing new; bringing Boris back keeps him offline.
    assert await repo(store).sync([ANNA]) == OperatorSync(added=(), removed=())
    assert await repo(store).sync([ANNA, BORIS]) == OperatorSync(added=(), removed=())
    boris = (await store.operators.list())[1]
    assert (boris.configured, boris.state) == (True, Presence.OFFLINE)


async def test_duplicate_ids_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="op1"):
        await repo(store).sync([ANNA, ANNA])
    assert await store.operators.list() == []


async def test_save_state_of_an_unknown_operator_or_presence(store: Store) -> None:
    async def save(operator_id: str, presence: str) -> bool:
        return await store.operators.save_state(
            operator_id,
            presence=presence,
            reason=None,
            changed_at=T0,
            idle_since=None,
            calls_today=0,
            consecutive_no_answers=0,
        )

    assert not await save("ghost", Presence.PAUSED)
    await repo(store).sync([ANNA])
    with pytest.raises(ValueError):
        await save("op1", "asleep")
    assert (await store.operators.list())[0].state is Presence.OFFLINE


async def test_save_state_positionally_keeping_the_no_answer_count(store: Store) -> None:
    await repo(store).sync([ANNA])
    await store.operators.save_state("op1", Presence.AVAILABLE, None, T0, T0, 1, 4)
    assert await store.operators.save_state("op1", "paused", "lunch", T1, None, 2)
    anna = (await store.operators.list())[0]
    assert (anna.state, anna.state_reason, anna.state_changed_at) == (Presence.PAUSED, "lunch", T1)
    assert (anna.idle_since, anna.calls_today, anna.consecutive_no_answers) == (None, 2, 4)
