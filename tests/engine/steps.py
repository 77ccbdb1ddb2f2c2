"""Steps the engine-tier scenarios share: what a caller and the operators do."""

from __future__ import annotations

from collections.abc import Callable

from tests.engine.harness import DID, RouterUnderTest
from tests.fakeari import FakeAsterisk

# Each REST request of an inbound call, in the order the engine makes them (method,
# regular expression on the path with its query, text the body must contain).
CALL_STEPS = {
    "claim": ("POST", r"^/events/claim", ""),
    "answer": ("POST", r"/answer$", ""),
    "bridge": ("POST", r"^/bridges\?", ""),
    "hold": ("POST", r"/addChannel\?channel=[0-9.]+$", ""),
    "music": ("POST", r"/moh\?", ""),
    "endpoint": ("GET", r"^/endpoints/", ""),
    "originate": ("POST", r"^/channels$", "PJSIP/op"),
    "music_off": ("DELETE", r"/moh$", ""),
    "connect": ("POST", r"/addChannel\?channel=.*-op", ""),
}


async def talk_then_hang_up(fake: FakeAsterisk, caller: str, timeout: float = 5.0) -> str:
    """Wait until the caller talks to someone, hang the caller up; the operator's leg."""
    await fake.until(lambda: fake.bridged(caller), timeout)
    leg = fake.bridged(caller)
    assert leg is not None
    fake.caller_hangs_up(caller)
    await fake.until(lambda: not fake.leftovers())
    return leg


async def one_talking_one_waiting(fake: FakeAsterisk) -> tuple[str, str]:
    """With one operator: a first caller talks to them, a second one waits on hold."""
    first = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.bridged(first))
    second = fake.caller_arrives(DID, "79990003344")
    await fake.until(lambda: fake.channel(second).bridge is not None)
    return first, second


def rung_twice(fake: FakeAsterisk) -> list[str]:
    """Endpoints originated more than once (for one caller per scenario: a double ring)."""
    endpoints = [e for e, _ in fake.world.originated]
    return sorted({e for e in endpoints if endpoints.count(e) > 1})


async def while_socket_is_down(
    fake: FakeAsterisk, router: RouterUnderTest, happen: Callable[[], None]
) -> None:
    """`happen` while the router's event socket is down (its events are lost, as with a
    real Asterisk); returns once the router has reconnected and reconciled."""
    assert router.engine is not None
    runs = router.engine.reconciler.runs
    fake.refuse_sockets = True
    await fake.drop_socket()
    happen()
    fake.refuse_sockets = False
    await fake.until(lambda: router.engine and router.engine.reconciler.runs > runs)
