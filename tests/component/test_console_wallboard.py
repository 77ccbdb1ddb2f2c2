"""The wallboard page and its live stream on a real server, over a real operator board
and waiting room (the calls are plain values: the engine is not running here)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from console_support import (
    Caller,
    Clock,
    Live,
    add_users,
    browser,
    next_board,
    serving_console,
    sign_in,
)
from storage_support import migrated_store

from router.config.console_settings import ConsoleSettings
from router.console.app import live_feed
from router.domain.calls import RingResult
from router.domain.dispatch import WaitingCall
from router.domain.miss_target import MissTarget
from router.domain.operators import Presence
from router.engine.board import OperatorBoard
from router.engine.waiting_room import WaitingRoom


def _wait(live: Live, call: Caller, queue: str) -> None:
    live.calls[call.id] = call
    call.miss_target = MissTarget(line="moscow", queue=queue)
    live.room.wait(
        WaitingCall(call.id, 0, time.monotonic(), frozenset({"op1001"})), lambda _offer: True
    )


async def test_the_wallboard_shows_operators_and_masked_waiting_callers(live: Live) -> None:
    _wait(live, Caller("c-1", "+79161234567", ["main:3"]), "dms")
    live.board.ring_result("op1002", RingResult.NO_ANSWER, pause_after=5)
    async with browser() as client:
        await sign_in(client, live.console.base, "sam")
        async with client.get(f"{live.console.base}/console/wallboard") as page:
            html = await page.text()
    assert page.status == 200
    assert 'data-operator="op1001" data-state="paused"' in html and "training" in html
    assert "+7 916 ***-**-67" in html and "+79161234567" not in html
    assert 'data-call="c-1"' in html and "main:3" in html
    assert "1 rang out" in html  # who is not picking up


async def test_changes_reach_an_open_stream_within_a_second(live: Live) -> None:
    base = live.console.base
    async with browser() as client:
        await sign_in(client, base, "ada")
        async with client.get(f"{base}/console/wallboard/events") as stream:
            assert stream.content_type == "text/event-stream"
            first = await next_board(stream, 2)
            assert "Nobody is waiting." in first
            started = time.monotonic()
            _wait(live, Caller("c-2", "+79167654321"), "general")
            shown = await next_board(stream, 1)
            assert 'data-call="c-2"' in shown and "+7 916 ***-**-21" in shown
            live.room.leave("c-2")
            live.board.set("op1002", Presence.AVAILABLE)
            gone = await next_board(stream, 1)
            assert 'data-call="c-2"' not in gone
            assert 'data-operator="op1002" data-state="available"' in gone
            assert time.monotonic() - started < 2


async def test_operators_get_403_on_the_wallboard_and_its_stream(live: Live) -> None:
    async with browser() as client:
        await sign_in(client, live.console.base, "olga")
        for path in ("/console/wallboard", "/console/wallboard/events"):
            async with client.get(f"{live.console.base}{path}") as resp:
                assert resp.status == 403


async def test_whole_numbers_for_the_roles_the_settings_name(tmp_path: Path) -> None:
    async with migrated_store("sqlite", tmp_path) as store:
        await add_users(store)
        board = OperatorBoard(time.time)
        room = WaitingRoom(board, time.monotonic)
        calls = {"c-3": Caller("c-3", "+79161234567")}
        settings = ConsoleSettings(full_numbers_for=("admin",))
        feed = live_feed(settings, board, room, calls.values, store.db)
        room.wait(WaitingCall("c-3", 0, time.monotonic(), frozenset()), lambda _o: True)
        async with (
            serving_console(store, Clock(time.time()), settings, feed) as console,
            browser() as admin,
            browser() as supervisor,
        ):
            await sign_in(admin, console.base, "ada")
            await sign_in(supervisor, console.base, "sam")
            async with admin.get(f"{console.base}/console/wallboard") as page:
                assert "+79161234567" in await page.text()
            async with supervisor.get(f"{console.base}/console/wallboard") as page:
                assert "+79161234567" not in await page.text()


async def test_a_board_nothing_changed_is_not_sent_again(live: Live) -> None:
    feed = live.console.deps.require_feed()
    _wait(live, Caller("c-4", "+79161234567"), "general")
    async with feed.watch(False) as frames:
        first = await frames.get()
        # Several of the feed's periodic looks later (every 0.25 s), still nothing new.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await frames.get()
        live.board.set("op1001", Presence.AVAILABLE)
        async with asyncio.timeout(1.0):
            second = await frames.get()
    assert first is not None and second is not None
    assert second.generation > first.generation
