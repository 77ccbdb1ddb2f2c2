"""What a real Asterisk rarely does, on demand: REST errors, slow and lost replies, a
dropped event socket. Whatever happens, the caller is served or handed to the fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import one_talking_one_waiting, talk_then_hang_up, while_socket_is_down
from tests.engine.test_call_cleanup import stopped_while_ringing
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_originate_500_rings_the_next_operator(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    fault = fake.fail("POST", "^/channels$", 500, message="Allocation failed", body_has="PJSIP/op")
    caller = fake.caller_arrives(DID, "79990001122")
    leg = await talk_then_hang_up(fake, caller)
    await router.flushed()
    assert fault.hits == 1
    rings = router.rings(caller)
    assert len(rings) == 2, rings
    [(refused, result), (answered, ok)] = rings
    assert (result, ok) == ("unavailable", "answered")
    assert refused != answered
    assert leg == f"{caller}-op2"
    assert router.call(caller)["outcome"] == "answered"


async def test_a_slow_bridge_create_still_serves_the_caller(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    fault = fake.slow("POST", r"^/bridges\?", delay=0.3)  # under the request timeout
    caller = fake.caller_arrives(DID, "79990001122")
    await talk_then_hang_up(fake, caller)
    await router.flushed()
    assert fault.hits == 1
    assert router.call(caller)["outcome"] == "answered"


async def test_answer_without_reply_hands_the_caller_to_the_fallback(
    fake: FakeAsterisk, hasty_router: RouterUnderTest
) -> None:
    fake.slow("POST", "/answer$", delay=1.0)  # longer than the request timeout
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.in_fallback(caller))
    await hasty_router.flushed()
    assert hasty_router.call(caller)["outcome"] == "failed"
    assert "fallback" in hasty_router.journey(caller)
    assert fake.world.originated == []
    await fake.until(lambda: not fake.leftovers())


async def test_socket_drop_while_waiting_the_call_goes_on(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """The talking caller hangs up while the socket is down (no event will ever tell):
    after the reconnect the router learns it from Asterisk, frees the operator, and the
    waiting caller is put through."""
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        first, second = await one_talking_one_waiting(fake)
        await while_socket_is_down(fake, router, lambda: fake.caller_hangs_up(first))
        await talk_then_hang_up(fake, second)
        await router.flushed()
        assert router.call(first)["outcome"] == "answered"
        assert router.call(second)["outcome"] == "answered"
        assert router.misses(second) == []
        assert fake.legs_to("PJSIP/op1001") == [f"{first}-op1", f"{second}-op1"]
    finally:
        await router.stop()


async def test_socket_drop_while_the_operator_rings(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    """The reconnect's reconcile must not hang up the leg still ringing for a live call
    (it did: `_hang_up_orphan_legs` took it for an orphan)."""
    fake.phone("PJSIP/op1001", "manual")
    fake.phone("PJSIP/op1002", "manual")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    endpoint, leg = fake.world.originated[0]
    await fake.drop_socket()
    await fake.until(lambda: router.engine and router.engine.reconciler.runs >= 2)
    fake.answer(leg)
    await talk_then_hang_up(fake, caller)
    await router.flushed()
    assert router.call(caller)["outcome"] == "answered"
    assert len(fake.world.originated) == 1
    assert router.rings(caller) == [(endpoint.removeprefix("PJSIP/"), "answered")]


async def test_router_stopped_while_ringing_restart_adopts(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    caller, rung_endpoint, rung_leg = await stopped_while_ringing(fake, tmp_path)
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        # The ring goes on for the adopted caller: nobody else is rung, nobody twice.
        assert fake.channel(rung_leg).alive
        fake.answer(rung_leg)
        await talk_then_hang_up(fake, caller)
        await second.flushed()
        assert second.call(caller)["outcome"] == "answered"
        assert second.call(caller)["operator_id"] == rung_endpoint.removeprefix("PJSIP/")
        assert second.misses(caller) == []
        assert len(fake.world.originated) == 1
        # One ring in the journey (the adopted one is journaled once), one operator tried.
        assert second.journey(caller).count("ringing") == 2  # the first process's, the adoption
        assert json.loads(second.call(caller)["tried_operators"]) == [
            rung_endpoint.removeprefix("PJSIP/")
        ]
    finally:
        await second.stop()


async def test_originate_without_reply_leaves_no_operator_leg(
    fake: FakeAsterisk, hasty_router: RouterUnderTest
) -> None:
    """The originate's reply is lost but Asterisk dials anyway: the caller is handed to
    the fallback and the leg the router could not see is hung up, not left ringing."""
    fake.slow("POST", "^/channels$", delay=1.0, body_has="PJSIP/op")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.in_fallback(caller))
    await fake.until(lambda: fake.world.originated)  # Asterisk did dial, after the timeout
    await fake.until(lambda: not fake.leftovers())
    assert len(fake.world.originated) == 1
    await hasty_router.flushed()
    assert hasty_router.call(caller)["outcome"] == "failed"


async def test_a_bridge_delete_refused_once_is_retried(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    """Issue 13 item 7: an overloaded Asterisk answers the bridge's DELETE with 503; the
    bridge must not stay in Asterisk for good."""
    fault = fake.fail("DELETE", r"^/bridges/cr-", 503, message="Service Unavailable")
    caller = fake.caller_arrives(DID, "79990001122")
    await talk_then_hang_up(fake, caller)  # waits until nothing is left
    assert fault.hits == 1
    assert len(fake.requests("DELETE", f"/bridges/cr-{caller}")) == 2


async def test_operator_answers_while_the_socket_is_down(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    """The answer's StasisStart is lost with the socket (Asterisk replays nothing): the
    reconcile finds the leg `Up` and the call bridges it at once, instead of waiting out
    its ring (ring_timeout_s + 10 s) and hanging up the operator who answered."""
    fake.phone("PJSIP/op1001", "manual")
    fake.phone("PJSIP/op1002", "manual")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    _, leg = fake.world.originated[0]
    await while_socket_is_down(fake, router, lambda: fake.answer(leg))
    await fake.until(lambda: fake.bridged(caller) == leg, timeout=3)
    assert len(fake.world.originated) == 1  # nobody else was rung
    await talk_then_hang_up(fake, caller)
    await router.flushed()
    assert router.call(caller)["outcome"] == "answered"
    assert router.misses(caller) == []


async def test_operator_rings_out_while_the_socket_is_down(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    """The ringing leg's ChannelDestroyed is lost with the socket: the reconcile tells the
    call its leg is gone and the next operator rings at once (not 25 s later)."""
    fake.phone("PJSIP/op1001", "manual")
    fake.phone("PJSIP/op1002", "manual")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    first, _ = fake.world.originated[0]
    _, leg = fake.world.originated[0]
    await while_socket_is_down(fake, router, lambda: fake.ring_out(leg))
    await fake.until(lambda: len(fake.world.originated) == 2, timeout=3)
    assert fake.channel(caller).alive
    assert fake.world.originated[1][0] != first  # the next operator, not the same one


async def test_bridge_create_without_reply_leaves_no_bridge(
    fake: FakeAsterisk, hasty_router: RouterUnderTest
) -> None:
    """Issue 13 item 7 ("bridges left after an overload"): the bridge create times out on
    our side but Asterisk makes the bridge later; the caller goes to the fallback, and the
    bridge `cr-<call>` must not stay in Asterisk (before: deleted only once its create
    had answered, so it stayed until the next reconnect)."""
    fake.slow("POST", r"^/bridges\?", delay=0.8)  # over the 0.3 s request timeout
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.in_fallback(caller))
    await fake.until(lambda: f"cr-{caller}" in fake.world.bridges)  # Asterisk did it
    await fake.until(lambda: not fake.leftovers(), timeout=3)
