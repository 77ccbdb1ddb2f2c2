"""Asterisk restarts under the router (`core restart now`): every call in it ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import RouterUnderTest
from tests.engine.steps import one_talking_one_waiting
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_an_asterisk_restart_ends_the_calls_and_the_router_reconnects(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        talking, waiting = await one_talking_one_waiting(fake)
        await fake.restart_asterisk()
        await fake.until(lambda: router.engine and router.engine.reconciler.runs >= 2)
        await fake.until(lambda: router.engine is not None and not router.engine.live_calls())
        await router.flushed()
        assert router.call(talking)["outcome"] == "answered"  # they did talk
        assert router.call(waiting)["ended_at"] is not None
        assert "asterisk_shutdown" in router.journey(waiting)
        # A caller Asterisk dropped while waiting did not reach anyone: one miss, and a
        # callback task per the policy; the one who talked is no miss.
        assert router.call(waiting)["outcome"] == "failed"
        assert router.misses(waiting) == ["no_operator"]
        assert router.misses(talking) == []
        tasks = router.rows(
            "select t.state from misses m join callback_tasks t on t.id = m.task_id"
            " where m.call_id = ?",
            waiting,
        )
        assert tasks == [("open",)]
        assert fake.leftovers() == []
    finally:
        await router.stop()
