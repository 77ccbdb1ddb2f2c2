"""Issue 13 item 5: a callback conversation whose patient hangs up while the event socket
is down (the ChannelDestroyed is lost; Asterisk replays nothing) is finished on reconnect,
and its operator freed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import RouterUnderTest
from tests.engine.steps import while_socket_is_down
from tests.engine.test_callbacks import PATIENT, SETTINGS, missed_then_free
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
