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
from router.domain.calls import RingResult

CALL = CallbackCall(
    7,
    1,
    "PJSIP/op1001",
    "PJSIP/79161234567@patients",
    ("clinic-callback",),
    "4567",
    "clinic-callback-abandoned",
    line_number="+74957770000",
)


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
    # the same whisper as ARI mode's: the sounds, the last digits, the reason
    assert (session.variables["CR_WHISPER"], session.variables["CR_DIGITS"]) == (
        "clinic-callback",
        "4567",
    )
    assert session.variables["CR_REASON"] == "clinic-callback-abandoned"
    assert session.variables["CR_CALLERID"] == "+74957770000"
    assert channel.startswith("cr-cb-7-1-")  # found again by a restarted router
    replay = await agi_call(server.port, "", "s", uniqueid=channel, script="callback")
    assert replay.variables == {"CR_GO": "no"} and gates == [1]
    fake.send("DialBegin", Uniqueid=channel, DestUniqueid="pt-1")
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
    fake.send("DialBegin", Uniqueid=channel, DestUniqueid="pt-1")
    fake.send("DialEnd", Uniqueid=channel, DialStatus="BUSY")
    fake.send("Hangup", Uniqueid=channel)
    assert await asyncio.wait_for(attempt, 5) is DialResult.PATIENT_BUSY


async def test_a_busy_operator_is_told_by_the_originates_action_id(dialer) -> None:  # type: ignore[no-untyped-def]
    # a channel that was never made: OriginateResponse carries no Uniqueid, the ActionID
    fake, ami_dialer, _ = dialer
    rings: list[tuple[str, RingResult]] = []

    async def gate() -> bool:
        raise AssertionError("the patient must not be dialled")

    attempt = asyncio.create_task(
        ami_dialer.call_back(CALL, gate, on_ring=lambda p, r, _ms: rings.append((p, r)))
    )
    action = await originated(fake)
    fake.send("OriginateResponse", ActionID=action["ActionID"], Response="Failure", Reason="5")
    assert await asyncio.wait_for(attempt, 5) is DialResult.OPERATOR_NO_ANSWER
    assert rings == [("operator", RingResult.BUSY)]


async def test_an_operator_who_leaves_during_the_whisper(dialer) -> None:  # type: ignore[no-untyped-def]
    fake, ami_dialer, server = dialer

    async def gate() -> bool:
        return True

    attempt = asyncio.create_task(ami_dialer.call_back(CALL, gate))
    channel = (await originated(fake))["ChannelId"]
    await agi_call(server.port, "", "s", uniqueid=channel, script="callback")
    fake.send("Hangup", Uniqueid=channel)  # no DialBegin: the patient was never dialled
    assert await asyncio.wait_for(attempt, 5) is DialResult.OPERATOR_LEFT


async def test_a_leg_followed_after_a_restart_is_never_dialled(dialer) -> None:  # type: ignore[no-untyped-def]
    fake, ami_dialer, server = dialer
    leg = "cr-cb-7-1-abc123"
    fake.live.append(leg)
    rings: list[tuple[str, RingResult]] = []
    follow = asyncio.create_task(ami_dialer.follow(leg, lambda p, r, _ms: rings.append((p, r))))
    await asyncio.sleep(0.2)
    # the dialplan asks again (a stale AGI): told no, nothing dialled
    session = await agi_call(server.port, "", "s", uniqueid=leg, script="callback")
    assert session.variables == {"CR_GO": "no"}
    fake.send("DialEnd", Uniqueid=leg, DialStatus="ANSWER")
    fake.send("Hangup", Uniqueid=leg)
    assert await asyncio.wait_for(follow, 5) is DialResult.PATIENT_ANSWERED
    assert rings == [("patient", RingResult.ANSWERED)]
    assert not [a for a in fake.actions if a["Action"] == "Originate"]


async def test_a_followed_leg_already_gone_ends_unknown(dialer) -> None:  # type: ignore[no-untyped-def]
    _, ami_dialer, _ = dialer
    result = await asyncio.wait_for(ami_dialer.follow("cr-cb-7-1-gone"), 5)
    assert result is DialResult.UNKNOWN
    talking = await asyncio.wait_for(ami_dialer.follow("cr-cb-7-1-gone", answered=True), 5)
    assert talking is DialResult.PATIENT_ANSWERED


async def test_a_reconnect_settles_the_attempts_whose_legs_are_gone(dialer) -> None:  # type: ignore[no-untyped-def]
    # the socket dropped and the Hangup was lost: the channel list after the reconnect
    fake, ami_dialer, server = dialer

    async def gate() -> bool:
        return True

    talking = asyncio.create_task(ami_dialer.call_back(CALL, gate))
    leg = (await originated(fake))["ChannelId"]
    await agi_call(server.port, "", "s", uniqueid=leg, script="callback")
    fake.send("DialBegin", Uniqueid=leg, DestUniqueid="pt-1")
    fake.send("DialEnd", Uniqueid=leg, DialStatus="ANSWER")
    ringing_call = CallbackCall(8, 1, "PJSIP/op1002", "PJSIP/79160000000@patients")
    ringing = asyncio.create_task(ami_dialer.call_back(ringing_call, gate))
    await asyncio.sleep(0.2)
    ami_dialer.resync(set())
    assert await asyncio.wait_for(talking, 5) is DialResult.PATIENT_ANSWERED
    assert not ringing.done()  # may still be being originated: its ring time is not over
    ringing.cancel()
