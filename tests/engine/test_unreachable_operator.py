"""An operator whose phone could not be dialled is skipped, not tried: once the phone is
back they are offered the waiting caller again; one who let it ring out is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)

OP = "PJSIP/op1001"


async def test_an_operator_whose_phone_was_offline_is_rung_once_it_is_back(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    fake.phone(OP, "offline")  # re-registering: Asterisk says the endpoint is offline
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        caller = fake.caller_arrives(DID, "79990001122")
        # The router asks Asterisk for the phone's state before ringing it: offline.
        await fake.until(lambda: fake.requests("GET", f"/endpoints/{OP}"))
        assert fake.legs_to(OP) == []  # an offline phone is not dialled
        assert fake.channel(caller).alive  # the caller still waits
        fake.phone(OP, "manual")  # registered again
        await fake.until(lambda: fake.legs_to(OP))
        fake.answer(fake.legs_to(OP)[0])
        await talk_then_hang_up(fake, caller)
        await router.flushed()
        rings = router.rings(caller)
        assert rings[-1] == ("op1001", "answered")
        assert set(rings[:-1]) == {("op1001", "unavailable")}
        assert len(fake.legs_to(OP)) == 1
        call = router.call(caller)
        assert call["outcome"] == "answered"
        assert router.misses(caller) == []
        assert "skipped" in router.journey(caller)
    finally:
        await router.stop()


async def test_an_operator_who_let_it_ring_out_is_not_rung_again(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    fake.phone(OP, "manual")
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        caller = fake.caller_arrives(DID, "79990001122")
        await fake.until(lambda: fake.legs_to(OP))
        fake.ring_out(fake.legs_to(OP)[0])
        # Nobody eligible is left: the caller hears "nobody available" and is hung up.
        await fake.until(lambda: not fake.channel(caller).alive)
        await fake.until(lambda: not fake.leftovers())
        await router.flushed()
        assert len(fake.legs_to(OP)) == 1
        assert router.rings(caller) == [("op1001", "no_answer")]
        assert "nobody_left" in router.journey(caller)
        assert "skipped" not in router.journey(caller)
    finally:
        await router.stop()
