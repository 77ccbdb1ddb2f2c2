"""What a (re)started router finds in Asterisk: calls talking, calls that ended while it
was away, and calls the dialplan fallback served unanswered meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from router.engine.fallback_misses import FAMILY
from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import one_talking_one_waiting, talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_a_talking_call_is_adopted_after_a_restart(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    first = RouterUnderTest(fake, tmp_path)
    await first.start()
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.bridged(caller))
    leg = fake.bridged(caller)
    await first.stop()
    assert fake.bridged(caller) == leg  # the conversation goes on without the router
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        assert await talk_then_hang_up(fake, caller) == leg  # nobody else was rung
        await second.flushed()
        assert len(fake.world.originated) == 1
        assert second.call(caller)["outcome"] == "answered"
        assert second.misses(caller) == []
        assert "adopted" in second.journey(caller)
    finally:
        await second.stop()


async def test_a_call_whose_operator_hung_up_while_the_router_was_away_ends_answered(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    first = RouterUnderTest(fake, tmp_path)
    await first.start()
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.bridged(caller))
    leg = fake.bridged(caller)
    assert leg is not None
    await first.stop()
    fake.world.end(fake.channel(leg), "operator")  # nobody sees it: the caller is alone
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        await fake.until(lambda: not fake.leftovers())  # the caller hung up, bridge gone
        await second.flushed()
        assert fake.channel(caller).hung_up_by != "caller"
        assert len(fake.world.originated) == 1  # nobody rung for a call that talked
        assert second.call(caller)["outcome"] == "answered"
        assert second.misses(caller) == []
        assert "adopted" in second.journey(caller)
    finally:
        await second.stop()


async def test_a_caller_who_gave_up_while_the_router_was_away_is_one_miss(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    first = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await first.start()
    talking, waiting = await one_talking_one_waiting(fake)
    await first.stop()
    fake.caller_hangs_up(waiting)  # nobody sees it: no event will ever tell
    second = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await second.start()
    try:
        await talk_then_hang_up(fake, talking)
        await second.flushed()
        assert second.call(waiting)["outcome"] == "lost"
        assert second.misses(waiting) == ["abandoned"]
        assert second.call(talking)["outcome"] == "answered"
        third = RouterUnderTest(fake, tmp_path, operators=("op1001",))
        await second.stop()
        await third.start()  # a further restart counts nothing twice
        await third.flushed()
        assert third.misses(waiting) == ["abandoned"]
        await third.stop()
    finally:
        await second.stop()


async def test_calls_the_fallback_served_unanswered_become_misses_once(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    now = int(time.time())
    key = f"1796200000.7:{now - 5}:{now - 65}:{DID}:+79990005566"
    fake.world.astdb[FAMILY] = {key}  # left by the dialplan's hang-up handler
    router = RouterUnderTest(fake, tmp_path)
    await router.start()
    try:
        await fake.until(lambda: not fake.world.astdb[FAMILY])  # read, written, deleted
        await router.flushed()
        assert router.misses("1796200000.7") == ["fallback_unanswered"]
        assert router.call("1796200000.7")["caller_e164"] == "+79990005566"
    finally:
        await router.stop()
    fake.world.astdb[FAMILY] = {key}  # a delete that did not reach Asterisk: read again
    again = RouterUnderTest(fake, tmp_path)
    await again.start()
    try:
        await fake.until(lambda: not fake.world.astdb[FAMILY])
        await again.flushed()
        assert again.misses("1796200000.7") == ["fallback_unanswered"]
    finally:
        await again.stop()


async def test_an_adopted_caller_who_gives_up_counts_their_wait_from_their_arrival(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """A caller ringing an operator through a kill, who hangs up after the restart, waited
    since they called, not since the adoption: counted from the adoption, the miss was
    "after 0 s", under the policy's min_abandon_s, and nobody called them back."""
    fake.phone("PJSIP/op1001", "manual")  # it rings on
    first = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await first.start()
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    await asyncio.sleep(1.0)
    await first.kill()
    second = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    engine = await second.start()
    try:
        await fake.until(lambda: [c.id for c in engine.live_calls()] == [caller])
        fake.caller_hangs_up(caller)
        await fake.until(lambda: not fake.leftovers())
        await second.flushed()
        [(reason, waited_s)] = second.rows(
            "select reason, waited_s from misses where call_id = ?", caller
        )
        assert reason == "abandoned" and waited_s >= 1.0
    finally:
        await second.stop()
