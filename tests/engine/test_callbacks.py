"""Callback attempts through the real engine and dispatcher against the fake Asterisk."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config.callback_settings import CallbackSettings
from tests.engine.harness import DID, RouterUnderTest
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)

PATIENT = "79990001122"


async def test_a_missed_caller_is_called_back(fake: FakeAsterisk, tmp_path: Path) -> None:
    """A caller nobody could take becomes a task; the dispatcher rings the operator, who
    hears the whisper, then the patient's phone, and the two are bridged once."""
    fake.phone("PJSIP/op1001", "busy")
    fake.phone("*", "answer")  # the patients' trunk
    router = RouterUnderTest(
        fake, tmp_path, operators=("op1001",), callbacks=CallbackSettings(poll_s=0.2, hold_s=5)
    )
    await router.start()
    try:
        caller = fake.caller_arrives(DID, PATIENT)
        await fake.until(lambda: not fake.channel(caller).alive)  # told nobody can answer
        await router.flushed()
        assert len(router.misses(caller)) == 1  # in the ledger, once
        fake.phone("PJSIP/op1001", "answer")  # the operator is free again
        await fake.until(lambda: fake.legs_to(f"PJSIP/{PATIENT}@patients"))
        [patient_leg] = fake.legs_to(f"PJSIP/{PATIENT}@patients")
        await fake.until(lambda: fake.bridged(patient_leg))
        operator_leg = fake.bridged(patient_leg)
        assert operator_leg in fake.legs_to("PJSIP/op1001")
        fake.caller_hangs_up(patient_leg)  # the patient ends the conversation
        await fake.until(lambda: not fake.leftovers())
        await fake.until(lambda: router.rows("select state from callback_tasks") == [("closed",)])
        [(attempts, outcome)] = router.rows("select attempts, last_outcome from callback_tasks")
        assert (attempts, outcome) == (1, "connected")
        assert fake.legs_to(f"PJSIP/{PATIENT}@patients") == [patient_leg]  # dialled exactly once
        assert fake.requests("POST", f"/channels/{operator_leg}/play")  # the whisper
    finally:
        await router.stop()


async def missed_then_free(fake: FakeAsterisk, router: RouterUnderTest) -> None:
    """A caller nobody could take (the one operator busy) becomes a task; then the
    operator is free again and the dispatcher may call back."""
    caller = fake.caller_arrives(DID, PATIENT)
    await fake.until(lambda: not fake.channel(caller).alive)
    await router.flushed()
    assert len(router.misses(caller)) == 1
    fake.phone("PJSIP/op1001", "answer")


async def test_a_busy_patient_is_tried_again_later_and_frees_the_operator(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    fake.phone("PJSIP/op1001", "busy")
    fake.phone("*", "busy")  # the patient's phone
    router = RouterUnderTest(
        fake, tmp_path, operators=("op1001",), callbacks=CallbackSettings(poll_s=0.2, hold_s=5)
    )
    await router.start()
    try:
        await missed_then_free(fake, router)
        await fake.until(lambda: fake.legs_to(f"PJSIP/{PATIENT}@patients"))
        await fake.until(lambda: not fake.leftovers())
        await fake.until(
            lambda: (
                router.rows("select state, attempts, last_outcome from callback_tasks")
                == [("open", 1, "busy")]
            )
        )
        assert len(fake.legs_to(f"PJSIP/{PATIENT}@patients")) == 1  # not again at once
        assert router.engine is not None
        await fake.until(
            lambda: (
                router.engine is not None
                and router.engine.ctx.board.get("op1001").presence.value == "available"
            )
        )
    finally:
        await router.stop()


SETTINGS = CallbackSettings(poll_s=0.2, hold_s=5)


async def callback_talking_then_stopped(fake: FakeAsterisk, tmp_path: Path) -> str:
    """A callback conversation under way when the router stops (SIGTERM); the patient's
    leg."""
    fake.phone("PJSIP/op1001", "busy")
    fake.phone("*", "answer")
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",), callbacks=SETTINGS)
    await router.start()
    try:
        await missed_then_free(fake, router)
        await fake.until(lambda: fake.legs_to(f"PJSIP/{PATIENT}@patients"))
        [patient_leg] = fake.legs_to(f"PJSIP/{PATIENT}@patients")
        await fake.until(lambda: fake.bridged(patient_leg))
    finally:
        await router.stop()
    return patient_leg


async def test_router_stopped_during_a_callback_conversation_leaves_it_up(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """Issue 13 item 5: a graceful stop leaves a callback conversation to Asterisk (and
    a restart adopts it), as it does inbound calls."""
    patient_leg = await callback_talking_then_stopped(fake, tmp_path)
    assert fake.bridged(patient_leg), "the stop hung up a callback conversation"
    again = RouterUnderTest(fake, tmp_path, operators=("op1001",), callbacks=SETTINGS)
    await again.start()
    try:
        await fake.until(lambda: fake.requests("GET", "/bridges/cb-"))  # adopting it
        fake.caller_hangs_up(patient_leg)
        await fake.until(lambda: not fake.leftovers())
        await fake.until(
            lambda: (
                again.rows("select state, last_outcome from callback_tasks")
                == [("closed", "connected")]
            )
        )
        assert fake.legs_to(f"PJSIP/{PATIENT}@patients") == [patient_leg]
    finally:
        await again.stop()
