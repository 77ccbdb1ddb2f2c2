"""Our ARI event stream against the fake Asterisk: the handshake refusals of a booting
Asterisk, a takeover of the app name, and events that arrive while on_connected runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from router.ari.events import Event, StasisStart
from router.ari.stream import ApplicationReplacedError, AriEventStream
from tests.fakeari import FakeAsterisk
from tests.fakeari.server import ACCESS

pytestmark = pytest.mark.timeout(30)
APP = "clinic-router"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def stream_of(session: aiohttp.ClientSession, fake: FakeAsterisk, password: str) -> AriEventStream:
    return AriEventStream(
        session, fake.url, ACCESS.user, password, APP, backoff_initial=0.01, backoff_max=0.05
    )


async def test_a_booting_asterisk_is_retried_until_it_accepts(
    fake: FakeAsterisk, session: aiohttp.ClientSession
) -> None:
    fake.refuse_sockets = True  # 503 to the handshake, as for ~3 s after Asterisk boots
    stream = stream_of(session, fake, ACCESS.password)
    connected = asyncio.Event()

    async def on_connected() -> None:
        connected.set()

    task = asyncio.create_task(stream.run(lambda e: None, on_connected, lambda: None))
    try:
        await fake.until(lambda: len(fake.requests("GET", "/events")) >= 3)
        assert not connected.is_set()
        fake.refuse_sockets = False
        await asyncio.wait_for(connected.wait(), 5)
        assert stream.connects == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_wrong_password_never_connects(
    fake: FakeAsterisk, session: aiohttp.ClientSession
) -> None:
    stream = stream_of(session, fake, "wrong")
    task = asyncio.create_task(stream.run(lambda e: None, _nothing, lambda: None))
    try:
        await fake.until(lambda: len(fake.world.log) >= 2)  # retried (at the slowest pace)
        assert stream.connects == 0 and not fake.connected()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_another_connection_with_our_app_name_stops_the_stream(
    fake: FakeAsterisk, session: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(
        stream_of(session, fake, ACCESS.password).run(lambda e: None, _nothing, lambda: None)
    )
    await fake.until(fake.connected)
    second = asyncio.create_task(
        stream_of(session, fake, ACCESS.password).run(lambda e: None, _nothing, lambda: None)
    )
    try:
        with pytest.raises(ApplicationReplacedError):
            await asyncio.wait_for(first, 5)
    finally:
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)


async def test_events_during_on_connected_come_after_it_in_order(
    fake: FakeAsterisk, session: aiohttp.ClientSession
) -> None:
    seen: list[str] = []
    release = asyncio.Event()

    async def on_connected() -> None:
        seen.append("connected")
        await release.wait()  # a slow reconcile
        seen.append("reconciled")

    def on_event(event: Event) -> None:
        if isinstance(event, StasisStart):
            seen.append(event.channel.id)

    stream = stream_of(session, fake, ACCESS.password)
    task = asyncio.create_task(stream.run(on_event, on_connected, lambda: None))
    try:
        await fake.until(lambda: seen == ["connected"])
        callers = [fake.caller_arrives("74952232222", f"7999000000{n}") for n in range(3)]
        for caller in callers:  # claimed by the test: the stream is busy connecting
            assert fake.world.claim(caller, APP) == 204
        await fake.until(lambda: len(fake.world.sent) >= 6)  # 3 offers, 3 StasisStarts
        assert seen == ["connected"]  # held while on_connected runs
        release.set()
        await fake.until(lambda: len(seen) == 5)
        assert seen == ["connected", "reconciled", *callers]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _nothing() -> None:
    return None
