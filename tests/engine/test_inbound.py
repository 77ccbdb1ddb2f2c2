"""Inbound calls through the real engine against the fake Asterisk: the plain paths."""

from __future__ import annotations

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_a_caller_reaches_an_operator(fake: FakeAsterisk, router: RouterUnderTest) -> None:
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.bridged(caller))
    [leg] = fake.legs_to("PJSIP/op1001") or fake.legs_to("PJSIP/op1002")
    assert fake.bridged(caller) == leg
    assert fake.channel(caller).answered_by_router
    fake.caller_hangs_up(caller)
    await fake.until(lambda: not fake.leftovers())
    await router.flushed()
    call = router.call(caller)
    assert (call["outcome"], call["caller_e164"]) == ("answered", "+79990001122")
    assert router.misses(caller) == []
    assert [kind for kind in router.journey(caller) if kind in ("arrived", "connected")] == [
        "arrived",
        "connected",
    ]
