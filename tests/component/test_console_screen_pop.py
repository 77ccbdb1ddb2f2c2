"""The screen-pop webhook against a real HTTP receiver: signed body with the card's
context when a phone starts ringing; a slow receiver costs only its timeout."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from console_support import Caller, Live

from router.console.live import LiveSource
from router.console.screen_pop import SIGNATURE_HEADER, ScreenPop
from router.domain.miss_target import MissTarget
from router.domain.operators import Presence
from router.storage import PatientRecord

SECRET = "shared-secret-for-the-crm"


@dataclass
class Receiver:
    url: str
    bodies: list[tuple[bytes, str]] = field(default_factory=list)
    arrived: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    delay_s: float = 0.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver("")

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        got.bodies.append((body, request.headers.get(SIGNATURE_HEADER, "")))
        got.arrived.put_nowait(json.loads(body)["call_id"])
        await asyncio.sleep(got.delay_s)  # a slow CRM, as the test sets it
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/pop", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    got.url = f"http://127.0.0.1:{runner.addresses[0][1]}/pop"
    try:
        yield got
    finally:
        await runner.cleanup()


def _ring(live: Live, op: str, call: Caller) -> None:
    live.board.set(op, Presence.AVAILABLE)
    live.calls[call.id] = call
    call.tried.append(op)
    live.board.reserve(op)


async def test_a_ring_posts_the_signed_card_context(live: Live, receiver: Receiver) -> None:
    await live.store.patients.upsert([PatientRecord("p-1", "Ivan Orlov", ("+79161234567",))])
    source: LiveSource = live.console.deps.require_feed().source
    pop = ScreenPop(receiver.url, SECRET, 2.0, source, live.store.patients.find_by_phone)
    sender = asyncio.create_task(pop.run())
    try:
        target = MissTarget(line="moscow", queue="dms")
        _ring(live, "op1001", Caller("c-1", "+79161234567", ["main:3"], miss_target=target))
        assert await asyncio.wait_for(receiver.arrived.get(), 2) == "c-1"
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    body, signature = receiver.bodies[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    data = json.loads(body)
    assert (data["event"], data["operator"], data["call_id"]) == ("ringing", "op1001", "c-1")
    assert data["caller"] == "+79161234567" and data["queue"] == "dms"
    assert data["patients"][0]["name"] == "Ivan Orlov" and data["pressed"] == ["main:3"]


async def test_a_slow_receiver_costs_only_its_timeout(live: Live, receiver: Receiver) -> None:
    receiver.delay_s = 5.0
    source: LiveSource = live.console.deps.require_feed().source
    pop = ScreenPop(receiver.url, SECRET, 0.3, source, live.store.patients.find_by_phone)
    sender = asyncio.create_task(pop.run())
    try:
        started = time.monotonic()
        _ring(live, "op1001", Caller("c-1", "+79161234567"))
        _ring(live, "op1002", Caller("c-2", "+79160000000"))
        assert live.board.get("op1002").presence is Presence.RINGING  # nothing waited
        async with asyncio.timeout(3):
            arrivals = [await receiver.arrived.get(), await receiver.arrived.get()]
        assert arrivals == ["c-1", "c-2"]  # the second went out after the first timed out
        assert time.monotonic() - started < 2 and pop.failed >= 1
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


async def test_a_failed_lookup_costs_that_pop_its_card_not_later_pops(
    live: Live, receiver: Receiver
) -> None:
    lookups = 0

    async def flaky(number: str) -> list[PatientRecord]:
        nonlocal lookups
        lookups += 1
        if lookups == 1:
            raise OSError("database is locked")
        return [PatientRecord("p-1", "Ivan Orlov", (number,))]

    source: LiveSource = live.console.deps.require_feed().source
    pop = ScreenPop(receiver.url, SECRET, 2.0, source, flaky)
    sender = asyncio.create_task(pop.run())
    try:
        _ring(live, "op1001", Caller("c-1", "+79161234567"))
        assert await asyncio.wait_for(receiver.arrived.get(), 2) == "c-1"
        _ring(live, "op1002", Caller("c-2", "+79160000000"))
        assert await asyncio.wait_for(receiver.arrived.get(), 2) == "c-2"
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    first, second = (json.loads(body) for body, _ in receiver.bodies)
    assert first["patients"] == [] and first["caller"] == "+79161234567"
    assert second["patients"][0]["name"] == "Ivan Orlov"
