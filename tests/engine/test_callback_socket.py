"""Issue 13 item 5: a callback conversation whose patient hangs up while the event socket
is down (the ChannelDestroyed is lost; Asterisk replays nothing) is finished on reconnect,
and its operator freed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import while_socket_is_down
from tests.engine.test_callbacks import (
    PATIENT,
    SETTINGS,
    answering_router,
    missed_then_free,
    until_talking,
)
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_a_callback_whose_patient_left_while_the_socket_was_down_is_finished(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    fake.phone("PJSIP/op1001", "busy")
    fake.phone("*", "answer")
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",), callbacks=SETTINGS)
    await router.start()
    try:
        await missed_then_free(fake, router)
        await fake.until(lambda: fake.legs_to(f"PJSIP/{PATIENT}@patients"))
        [patient_leg] = fake.legs_to(f"PJSIP/{PATIENT}@patients")
        await fake.until(lambda: bool(fake.bridged(patient_leg)) and fake.quiet())  # talking
        await while_socket_is_down(fake, router, lambda: fake.caller_hangs_up(patient_leg))
        await fake.until(
            lambda: (
                router.rows("select state, last_outcome from callback_tasks")
                == [("closed", "connected")]
            )
        )
        await fake.until(lambda: not fake.leftovers())  # the operator's leg hung up
        assert router.engine is not None
        await fake.until(
            lambda: (
                router.engine is not None
                and router.engine.ctx.board.get("op1001").presence.value == "available"
            )
        )
    finally:
        await router.stop()


async def test_a_socket_only_reconnect_keeps_a_callback_operator_busy_until_the_end(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """The event socket drops and comes back during a callback conversation, Asterisk
    alive and nothing lost: the operator stays busy (no inbound call is offered to them)
    until the conversation really ends, and is freed then."""
    router = await answering_router(fake, tmp_path)
    try:
        await missed_then_free(fake, router)
        patient_leg = await until_talking(fake)
        await fake.until(lambda: fake.quiet())
        assert router.engine is not None
        board = router.engine.ctx.board
        assert board.get("op1001").presence.value != "available"
        await while_socket_is_down(fake, router, lambda: None)  # nothing happens meanwhile
        await fake.until(lambda: fake.quiet())
        assert router.dispatcher is not None
        await fake.until(lambda: router.dispatcher is not None and router.dispatcher._resumed)
        assert board.get("op1001").presence.value != "available"  # still talking
        assert fake.bridged(patient_leg)
        operator_legs = len(fake.legs_to("PJSIP/op1001"))
        fake.caller_arrives(DID, "79990005555")  # nobody free: op1001 is not offered it
        await fake.until(lambda: fake.quiet())
        assert len(fake.legs_to("PJSIP/op1001")) == operator_legs
        fake.caller_hangs_up(patient_leg)  # the conversation really ends
        await fake.until(
            lambda: (
                router.rows("select state, last_outcome from callback_tasks")
                == [("closed", "connected")]
            )
        )
        await fake.until(lambda: board.get("op1001").presence.value == "available")
    finally:
        await router.stop()


async def test_a_socket_only_reconnect_keeps_ringing_the_callback_operator(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """The socket drops while the operator's phone rings for a callback: after the
    reconnect they are still ringing for it (not offered to anyone else), and answering
    goes on to the patient."""
    router = await answering_router(fake, tmp_path)
    try:
        await missed_then_free(fake, router)
        fake.phone("PJSIP/op1001", "manual")  # rings until the test answers
        rung = len(fake.legs_to("PJSIP/op1001"))
        await fake.until(lambda: len(fake.legs_to("PJSIP/op1001")) > rung)
        leg = fake.legs_to("PJSIP/op1001")[-1]
        assert router.engine is not None
        board = router.engine.ctx.board
        await fake.until(lambda: board.get("op1001").presence.value == "ringing")
        await while_socket_is_down(fake, router, lambda: None)
        await fake.until(lambda: fake.quiet())
        assert board.get("op1001").presence.value == "ringing"
        fake.answer(leg)
        await fake.until(lambda: fake.legs_to(f"PJSIP/{PATIENT}@patients"))
        [patient_leg] = fake.legs_to(f"PJSIP/{PATIENT}@patients")
        await fake.until(lambda: fake.bridged(patient_leg) == leg)
    finally:
        await router.stop()
