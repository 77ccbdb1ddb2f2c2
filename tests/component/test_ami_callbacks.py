"""Callbacks over AMI (router/ami/callbacks.py) against Asterisk's side of both wires: the
fake AMI server answers Originate and sends the operator leg's events, and the dialplan's
`AGI(.../callback)` on the answered operator channel is the AGI wire fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from agi_support import agi_call
from ami_support import FakeAmi

from router.agi.server import FastAgiServer
from router.ami.callbacks import AmiDialer, CallbackCall, DialResult
from router.ami.connection import AmiConnection

CALL = CallbackCall(7, "PJSIP/op1001", "PJSIP/79161234567@patients", "clinic-callback", 30)


@pytest.fixture
async def dialer() -> AsyncIterator[tuple[FakeAmi, AmiDialer, FastAgiServer]]:
    fake = FakeAmi()
    port = await fake.start()
    sink: list[AmiDialer] = []
    ami = AmiConnection("127.0.0.1", port, "clinic-router", "s3cret", lambda e: sink[0].on_event(e))
    sink.append(AmiDialer(ami))
    running = asyncio.create_task(ami.run())
    server = FastAgiServer({"callback": sink[0].agi_callback}, "127.0.0.1", 0)
    await server.start()
    try:
        async with asyncio.timeout(5):
            await ami.connected.wait()
        yield fake, sink[0], server
    finally:
        await server.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fake.close()


async def originated(fake: FakeAmi) -> dict[str, str]:
    async with asyncio.timeout(5):
        while True:
            found = [a for a in fake.actions if a["Action"] == "Originate"]
            if found:
                return found[-1]
            await asyncio.sleep(0.01)


async def test_operator_first_then_the_patient_once(dialer) -> None:  # type: ignore[no-untyped-def]
    fake, ami_dialer, server = dialer
    gates: list[int] = []

    async def gate() -> bool:
        gates.append(1)
        return True

    attempt = asyncio.create_task(ami_dialer.call_back(CALL, gate))
    action = await originated(fake)
    assert (action["Channel"], action["Context"], action["Variable"]) == (
        "PJSIP/op1001",
        "clinic-router-agi-callback",
        "CR_TASK=7",
    )
    channel = action["ChannelId"]
    # the operator answered: the dialplan asks the router, which says go, once
    session = await agi_call(server.port, "", "s", uniqueid=channel, script="callback")
    assert session.variables["CR_GO"] == "yes"
    assert session.variables["CR_DIAL"] == "PJSIP/79161234567@patients"
    replay = await agi_call(server.port, "", "s", uniqueid=channel, script="callback")
    assert replay.variables == {"CR_GO": "no"} and gates == [1]
    fake.send("DialEnd", Uniqueid=channel, DialStatus="ANSWER")
    fake.send("Hangup", Uniqueid=channel)
    assert await asyncio.wait_for(attempt, 5) is DialResult.PATIENT_ANSWERED


async def test_a_gate_that_refuses_never_dials_the_patient(dialer) -> None:  # type: ignore[no-untyped-def]
    fake, ami_dialer, server = dialer

    async def not_ours() -> bool:
        return False

    attempt = asyncio.create_task(ami_dialer.call_back(CALL, not_ours))
    channel = (await originated(fake))["ChannelId"]
    session = await agi_call(server.port, "", "s", uniqueid=channel, script="callback")
    assert session.variables == {"CR_GO": "no"}
    assert await asyncio.wait_for(attempt, 5) is DialResult.NOT_OURS


async def test_an_operator_who_does_not_answer_is_no_attempt(dialer) -> None:  # type: ignore[no-untyped-def]
    fake, ami_dialer, _ = dialer

    async def gate() -> bool:
        raise AssertionError("the patient must not be dialled")

    attempt = asyncio.create_task(ami_dialer.call_back(CALL, gate))
    channel = (await originated(fake))["ChannelId"]
    fake.send("OriginateResponse", Uniqueid=channel, Response="Failure", Reason="3")
    assert await asyncio.wait_for(attempt, 5) is DialResult.OPERATOR_NO_ANSWER


async def test_a_busy_patient(dialer) -> None:  # type: ignore[no-untyped-def]
    fake, ami_dialer, server = dialer

    async def gate() -> bool:
        return True

    attempt = asyncio.create_task(ami_dialer.call_back(CALL, gate))
    channel = (await originated(fake))["ChannelId"]
    await agi_call(server.port, "", "s", uniqueid=channel, script="callback")
    fake.send("DialEnd", Uniqueid=channel, DialStatus="BUSY")
    fake.send("Hangup", Uniqueid=channel)
    assert await asyncio.wait_for(attempt, 5) is DialResult.PATIENT_BUSY
