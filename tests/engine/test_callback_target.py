"""Issue 13 item 5: a miss keeps where the call was meant to go, also when the router
finds the call ended on its return (reconcile records the miss then)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.asterisk.rulesfile import write_rules
from tests.engine.harness import RouterUnderTest
from tests.engine.steps import one_talking_one_waiting, talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_a_caller_who_gave_up_while_the_router_was_away_keeps_their_target(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    rules = write_rules(tmp_path, ["op1001"])
    with rules.open("a", encoding="utf-8") as out:
        out.write("callback:\n  min_abandon_s: 0\n")  # a short wait still makes a task
    first = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await first.start()
    talking, waiting = await one_talking_one_waiting(fake)
    await first.stop()
    fake.caller_hangs_up(waiting)  # nobody sees it: reconcile records the miss
    second = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await second.start()
    try:
        await talk_then_hang_up(fake, talking)
        await second.flushed()
        assert second.misses(waiting) == ["abandoned"]
        [(target,)] = second.rows("select target from callback_tasks")
        # No line lists the number: it waited for any operator (the last resort).
        assert target is not None
        assert json.loads(target) == {
            "line": None,
            "queue": None,
            "skills": [],
            "min_level": 1,
            "operator": None,
        }
    finally:
        await second.stop()
