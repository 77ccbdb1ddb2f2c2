"""A fault at each step of an inbound call: the router stopped (cancelled) while a request
is on its way, or the event socket dropped there. Either way the caller ends up talking
to an operator, nobody is rung twice, and nothing the router made is left in Asterisk.

The request is held by the fake Asterisk until the router has stopped (or the socket has
dropped), then carried out, as a real Asterisk would carry out a request whose client
went away.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import CALL_STEPS, rung_twice, talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("step", list(CALL_STEPS))
async def test_router_stopped_at_each_step_restart_serves_the_caller(
    fake: FakeAsterisk, tmp_path: Path, step: str
) -> None:
    method, path, body = CALL_STEPS[step]
    first = RouterUnderTest(fake, tmp_path)
    await first.start()
    fault = fake.hold(method, path, body_has=body)
    caller = fake.caller_arrives(DID, "79990001122")
    try:
        await fake.until(lambda: fault.hits == 1)
    finally:
        await first.stop()  # SIGTERM while the request is on its way
    assert fault.gate is not None
    fault.gate.set()
    if step == "claim":
        # Claimed by a router that is gone: Asterisk keeps the call in Stasis.
        await fake.until(lambda: fake.channel(caller).location == "stasis")
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        await talk_then_hang_up(fake, caller)
        await second.flushed()
        assert rung_twice(fake) == []
        assert not fake.in_fallback(caller)
        assert second.call(caller)["outcome"] == "answered"
        assert second.misses(caller) == []
    finally:
        await second.stop()


@pytest.mark.parametrize("step", list(CALL_STEPS))
async def test_socket_dropped_at_each_step_the_call_goes_on(
    fake: FakeAsterisk, router: RouterUnderTest, step: str
) -> None:
    """The reconnect's reconcile runs while the call waits for this request's reply.
    (Events lost while the socket is down, e.g. an operator answering then, are
    `pending_engine_bugs.py`.)"""
    method, path, body = CALL_STEPS[step]
    fault = fake.hold(method, path, body_has=body)
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fault.hits == 1)
    await fake.drop_socket()
    await fake.until(lambda: router.engine and router.engine.reconciler.runs >= 2)
    assert fault.gate is not None
    fault.gate.set()
    await talk_then_hang_up(fake, caller)
    await router.flushed()
    assert rung_twice(fake) == []
    assert router.call(caller)["outcome"] == "answered"
    assert router.misses(caller) == []


@pytest.mark.parametrize("step", list(CALL_STEPS))
async def test_a_500_at_each_step_never_drops_the_caller(
    fake: FakeAsterisk, router: RouterUnderTest, step: str
) -> None:
    """Asterisk answers one request of the call with 500: the caller still talks to an
    operator, or is in the dialplan fallback, and the router leaves nothing behind."""
    method, path, body = CALL_STEPS[step]
    fake.world.broadcast_timeout_s = 0.1  # an unclaimed call goes to the fallback sooner
    fault = fake.fail(method, path, 500, body_has=body)
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.bridged(caller) or fake.in_fallback(caller))
    assert fault.hits == 1
    served = fake.bridged(caller) is not None
    if served:
        await talk_then_hang_up(fake, caller)
    await fake.until(lambda: not fake.leftovers())
    assert rung_twice(fake) == []
    if step != "claim":  # an unclaimed call is the fallback's, never the router's
        await router.flushed()
        assert router.call(caller)["outcome"] == ("answered" if served else "failed")


# A kill at the operator's connect (`connect`) joins the two after all: that caller talked,
# yet the dead router's `bridged` was not written, so they count as lost with a miss (a
# needless callback, not a lost call); `claim` comes before the router knows the call.
KILLED_STEPS = [s for s in CALL_STEPS if s not in ("claim", "connect")]


async def killed_at(fake: FakeAsterisk, folder: Path, step: str) -> str:
    """A router `kill -9`ed while `step`'s request is on its way, with the journal's batch
    not yet written (a 5 s window: nothing lingering reaches the disk); Asterisk then
    carries the request out for nobody. The caller's channel."""
    method, path, body = CALL_STEPS[step]
    first = RouterUnderTest(fake, folder, linger_s=5.0)
    engine = await first.start()
    assert await engine.idle()  # its start's own flushes (fallback misses) are over
    fault = fake.hold(method, path, body_has=body)
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fault.hits == 1)
    await first.kill()
    assert fault.gate is not None
    fault.gate.set()
    return caller


@pytest.mark.parametrize("step", KILLED_STEPS)
async def test_killed_at_each_step_a_caller_who_leaves_meanwhile_is_one_miss(
    fake: FakeAsterisk, tmp_path: Path, step: str
) -> None:
    """`kill -9` at each step, and the caller hangs up before the router is back: the
    restarted router still closes the call, as lost, and the caller is one miss, with
    their number for the callback."""
    caller = await killed_at(fake, tmp_path, step)
    fake.caller_hangs_up(caller)
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        await fake.until(lambda: not fake.leftovers())
        await fake.until(lambda: second.call(caller)["outcome"] is not None)  # reconciled
        await second.flushed()
        call = second.call(caller)
        assert (call["outcome"], call["caller_e164"]) == ("lost", "+79990001122")
        assert second.journey(caller).count("closed_on_reconnect") == 1
        # The miss has the number its callback task goes to (the policy's min_abandon_s
        # decides whether there is one: this caller waited under a second).
        misses = second.rows("select reason, number_e164 from misses where call_id = ?", caller)
        assert misses == [("abandoned", "+79990001122")]
    finally:
        await second.stop()


async def test_killed_before_the_call_was_ours_the_adopted_caller_keeps_their_number(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """Killed while claiming: the call enters Stasis with no router to see it and no row.
    The restarted router adopts it from Asterisk with the caller's number (a miss needs it
    for its callback task) and serves it."""
    caller = await killed_at(fake, tmp_path, "claim")
    await fake.until(lambda: fake.channel(caller).location == "stasis")
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        await talk_then_hang_up(fake, caller)
        await second.flushed()
        call = second.call(caller)
        assert (call["outcome"], call["caller_e164"]) == ("answered", "+79990001122")
        assert "adopted" in second.journey(caller)
    finally:
        await second.stop()
