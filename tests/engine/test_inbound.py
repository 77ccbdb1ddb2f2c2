"""Inbound calls through the real engine against the fake Asterisk: the everyday paths.

Each scenario checks the product's promises: the caller is served (or handed to the
fallback), every miss is in the ledger exactly once, nobody is rung twice for one caller,
and nothing the router created is left in Asterisk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import one_talking_one_waiting, talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_a_caller_reaches_an_operator(fake: FakeAsterisk, router: RouterUnderTest) -> None:
    caller = fake.caller_arrives(DID, "79990001122")
    leg = await talk_then_hang_up(fake, caller)
    assert leg in fake.legs_to("PJSIP/op1001") + fake.legs_to("PJSIP/op1002")
    assert fake.channel(caller).answered_by_router
    await router.flushed()
    call = router.call(caller)
    assert (call["outcome"], call["caller_e164"]) == ("answered", "+79990001122")
    assert router.misses(caller) == []
    assert [k for k in router.journey(caller) if k in ("arrived", "connected")] == [
        "arrived",
        "connected",
    ]


async def test_no_answer_passes_to_the_next_operator(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    fake.phone("PJSIP/op1001", "manual")
    fake.phone("PJSIP/op1002", "manual")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    first_endpoint, first_leg = fake.world.originated[0]
    fake.ring_out(first_leg)
    await fake.until(lambda: len(fake.world.originated) == 2)
    second_endpoint, second_leg = fake.world.originated[1]
    assert second_endpoint != first_endpoint  # never the same operator twice
    fake.answer(second_leg)
    await talk_then_hang_up(fake, caller)
    await router.flushed()
    first, second = (e.removeprefix("PJSIP/") for e in (first_endpoint, second_endpoint))
    assert router.rings(caller) == [(first, "no_answer"), (second, "answered")]
    assert router.call(caller)["outcome"] == "answered"
    assert len(fake.world.originated) == 2


async def test_ring_out_by_asterisks_own_timeout(fake: FakeAsterisk, tmp_path: Path) -> None:
    """The originate's own timeout ends the ring (ChannelDestroyed cause 19, no Dial event)."""
    fake.phone("PJSIP/op1001", "never")
    router = RouterUnderTest(fake, tmp_path, operators=("op1001", "op1002"))
    await router.start()
    try:
        fake.phone("PJSIP/op1002", "manual")
        caller = fake.caller_arrives(DID, "79990001122")
        # Whoever rings first, op1002 answers when rung; op1001 always rings out.
        await fake.until(lambda: fake.legs_to("PJSIP/op1002"))
        fake.answer(fake.legs_to("PJSIP/op1002")[0])
        await talk_then_hang_up(fake, caller)
        await router.flushed()
        assert ("op1001", "answered") not in router.rings(caller)
        assert router.rings(caller)[-1] == ("op1002", "answered")
        assert len(fake.legs_to("PJSIP/op1001")) <= 1
    finally:
        await router.stop()


async def test_caller_who_hangs_up_while_waiting_is_one_miss(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        first, second = await one_talking_one_waiting(fake)
        fake.caller_hangs_up(second)
        fake.caller_hangs_up(first)
        await fake.until(lambda: not fake.leftovers())
        await router.flushed()
        assert router.misses(second) == ["abandoned"]
        assert router.misses(first) == []
        assert router.call(second)["outcome"] == "abandoned"
        assert fake.legs_to("PJSIP/op1001") == [f"{first}-op1"]  # the waiting caller rang nobody
    finally:
        await router.stop()


async def test_duplicated_stasis_start_makes_one_call(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    fake.duplicate_next("StasisStart", times=2)  # the caller's, then the operator leg's
    caller = fake.caller_arrives(DID, "79990001122")
    await talk_then_hang_up(fake, caller)
    await router.flushed()
    starts = [e["channel"]["id"] for e in fake.world.sent if e["type"] == "StasisStart"]
    assert starts.count(caller) == 2  # the duplicate did reach the router
    assert len(fake.world.originated) == 1
    assert [r[0] for r in router.rows("select count(*) from calls")] == [1]
    assert router.call(caller)["outcome"] == "answered"
    assert fake.requests("POST", "/answer") == [f"/channels/{caller}/answer"]
