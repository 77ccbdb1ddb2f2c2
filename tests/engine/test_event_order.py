"""Events in an unusual order, and races a real Asterisk produces now and then."""

from __future__ import annotations

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import rung_twice
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("who", "early", "late"),
    [
        ("caller", "ChannelHangupRequest", "StasisEnd"),
        ("operator", "ChannelHangupRequest", "ChannelDestroyed"),
        ("operator", "StasisEnd", "ChannelDestroyed"),
    ],
)
async def test_hang_up_events_in_another_order(
    fake: FakeAsterisk, router: RouterUnderTest, who: str, early: str, late: str
) -> None:
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.bridged(caller))
    leg = fake.bridged(caller)
    assert leg is not None
    ending = caller if who == "caller" else leg
    fake.send_after(early, late)
    fake.caller_hangs_up(ending)
    await fake.until(lambda: not fake.leftovers())
    types = [e["type"] for e in fake.world.sent if e.get("channel", {}).get("id") == ending]
    assert types.index(early) > types.index(late)  # it was reordered
    await router.flushed()
    assert router.call(caller)["outcome"] == "answered"
    assert router.misses(caller) == []
    assert not fake.channel(caller).alive  # the caller is not left in silence


@pytest.mark.parametrize("first", ["operator_answers", "caller_hangs_up"])
async def test_caller_hangs_up_as_the_operator_answers(
    fake: FakeAsterisk, router: RouterUnderTest, first: str
) -> None:
    """The two events cross: whichever comes first, the operator's leg is not left up,
    and the call is either answered or one miss."""
    fake.phone("PJSIP/op1001", "manual")
    fake.phone("PJSIP/op1002", "manual")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    _, leg = fake.world.originated[0]
    if first == "operator_answers":
        fake.answer(leg)
        fake.caller_hangs_up(caller)
    else:
        fake.caller_hangs_up(caller)
        fake.answer(leg)
    await fake.until(lambda: not fake.leftovers())
    await router.flushed()
    outcome = router.call(caller)["outcome"]
    assert router.misses(caller) == ([] if outcome == "answered" else ["abandoned"])
    assert outcome in ("answered", "abandoned")
    assert rung_twice(fake) == [] and len(fake.world.originated) == 1
