"""A reconnect's reconcile while the journal still holds this process's writes: a call
that ended here just before the socket dropped has its outcome queued, its row still
open in the database. Closed again from that row it would get a second outcome (last
write wins: an abandoned caller becoming lost)."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.engine.reconcile import FLUSH_S, Reconciler
from router.engine.recorder import Recorder
from tests.engine.database_lock import database_locked
from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import one_talking_one_waiting, talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


def finished_runs(reconciler: Reconciler) -> list[None]:
    """One item each time `reconciler.run` has returned (its `runs` counts those begun)."""
    finished: list[None] = []
    run = reconciler.run

    async def counted() -> None:
        await run()
        finished.append(None)

    reconciler.run = counted  # type: ignore[method-assign]
    return finished


async def test_a_call_whose_outcome_is_queued_is_not_closed_again_by_a_reconnect(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    fake.phone("PJSIP/op1001", "manual")  # rings on: the caller waits
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",), busy_timeout_ms=200)
    engine = await router.start()
    try:
        caller = fake.caller_arrives(DID, "79990001122")
        await fake.until(lambda: fake.world.originated)
        await router.flushed()  # the row is in the database, open
        async with database_locked(router.db_path):
            fake.caller_hangs_up(caller)
            await fake.until(lambda: not engine.live_calls())  # ended here: abandoned
            reconciled = finished_runs(engine.reconciler)
            await fake.drop_socket()
            await fake.until(lambda: reconciled, timeout=10)  # the reconnect's, all of it
        await router.flushed()
        assert router.call(caller)["outcome"] == "abandoned"
        assert "closed_on_reconnect" not in router.journey(caller)
        assert router.misses(caller) == ["abandoned"]
    finally:
        await router.stop()


async def test_after_a_restart_a_journal_behind_still_lets_the_open_calls_be_settled(
    fake: FakeAsterisk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh process's journal holds nothing about calls: its writes being behind (a
    slow database at start) must not cost the previous process's callers their adoption,
    nor leave a caller who hung up meanwhile open. (A guard: the old read-anyway passes
    it too; leaving every open row alone while the journal is behind, as AGI mode's
    resync did, fails it: its own test is in tests/component/test_ami_events.py.)"""
    first = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await first.start()
    talking, waiting = await one_talking_one_waiting(fake)
    await first.stop()
    fake.caller_hangs_up(waiting)  # nobody sees it
    flushes: list[float] = []
    real_flush = Recorder.flush

    async def behind_at_first(recorder: Recorder, timeout: float = 5.0) -> bool:
        if not flushes:  # the reconcile's, before it reads the open calls
            flushes.append(timeout)
            return False
        return await real_flush(recorder, timeout)

    monkeypatch.setattr(Recorder, "flush", behind_at_first)
    second = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await second.start()
    try:
        await talk_then_hang_up(fake, talking)  # adopted: nobody else rung
        await second.flushed()
        assert flushes == [FLUSH_S]
        assert len(fake.world.originated) == 1
        assert second.call(talking)["outcome"] == "answered"
        assert second.call(waiting)["outcome"] == "lost"
        assert second.misses(waiting) == ["abandoned"]
    finally:
        await second.stop()


async def test_a_call_handed_to_the_fallback_is_not_adopted_again_by_a_reconnect(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """Its channel lives on in the dialplan: read as open from its stale row, it was
    adopted (a second outcome, and a router taking back a caller the fallback serves)."""
    fake.slow("POST", "/answer$", delay=1.0)  # no reply in time: the fallback
    router = RouterUnderTest(fake, tmp_path, request_timeout=0.3, busy_timeout_ms=200)
    engine = await router.start()
    try:
        caller = fake.caller_arrives(DID, "79990001122")
        await fake.until(lambda: router.rows("select id from calls where id = ?", caller))
        async with database_locked(router.db_path):
            await fake.until(lambda: fake.in_fallback(caller) and not engine.live_calls())
            reconciled = finished_runs(engine.reconciler)
            await fake.drop_socket()
            await fake.until(lambda: reconciled, timeout=10)
        await router.flushed()
        assert fake.in_fallback(caller)
        assert router.call(caller)["outcome"] == "failed"
        journey = router.journey(caller)
        assert "adopted" not in journey and "closed_on_reconnect" not in journey
    finally:
        await router.stop()
