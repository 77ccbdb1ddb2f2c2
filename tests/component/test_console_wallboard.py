"""The wallboard page and its live stream on a real server, over a real operator board
and waiting room (the calls are plain values: the engine is not running here)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from api_support import TOKEN, bare_deps
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
from router.config.live_rules import LiveRules
from router.config.rules import load_rules
from router.console.app import live_feed
from router.domain.calls import RingResult
from router.domain.console_access import Role
from router.domain.dispatch import WaitingCall
from router.domain.miss_target import MissTarget
from router.domain.operators import Presence
from router.engine.board import OperatorBoard
from router.engine.waiting_room import WaitingRoom
from router.http.api import build_app
from router.http.wallboard import add_wallboard_route
from router.storage import CallRow, MissInput

REPO = Path(__file__).resolve().parents[2]


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
    assert 'data-move="queue" data-move-call="c-1"' in html  # the supervisor may move them


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
        settings = ConsoleSettings(full_numbers_for=(Role.ADMIN,))
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


async def test_each_queue_shows_todays_figures_from_joining_it_against_its_target(
    tmp_path: Path,
) -> None:
    # paid's target is 15 s in the rules; oms has none (the console's 20 s).
    path = tmp_path / "rules.yaml"
    text = (REPO / "config" / "rules.yaml").read_text()
    paid = "  paid:\n    priority: 5\n"
    path.write_text(text.replace(paid, paid + "    service_level_s: 15\n", 1))
    rules = LiveRules(path, load_rules(path))
    now = datetime.now(UTC).replace(microsecond=0)
    async with migrated_store("sqlite", tmp_path) as store:
        await add_users(store)
        # (call, queues waited for with seconds after arrival, answered after, outcome)
        given: list[tuple[str, list[tuple[str, int]], int | None, str]] = [
            ("c-1", [("queue oms", 5), ("queue paid", 60)], 70, "answered"),  # 10 s in paid
            ("c-2", [("queue paid", 5)], 25, "answered"),  # 20 s: past paid's 15
            ("c-3", [("queue oms", 5)], 24, "answered"),  # 19 s: within oms's 20
            ("c-4", [("queue paid", 5)], None, "abandoned"),
        ]
        for call_id, waits, answered, outcome in given:
            start = now - timedelta(minutes=5)
            row = CallRow(
                call_id,
                "clinic-router",
                "+79161234567",
                "74952232222",
                start,
                line="moscow",
                outcome=outcome,
                answered_at=start + timedelta(seconds=answered) if answered else None,
            )
            await store.calls.create(row)
            for label, after in waits:
                at = start + timedelta(seconds=after)
                await store.calls.append_event(call_id, "waiting", {"for": label}, at)
        miss = MissInput(
            "c-4",
            "moscow",
            "+79161234567",
            None,
            "abandoned",
            30.0,
            now - timedelta(hours=2),
            None,
            True,
            target=MissTarget("moscow", "paid"),
        )
        await store.callbacks.record_miss(miss)
        board = OperatorBoard(time.time)
        room = WaitingRoom(board, time.monotonic)
        calls: dict[str, Caller] = {}
        settings = ConsoleSettings()
        feed = live_feed(settings, board, room, calls.values, store.db, rules)
        async with (
            serving_console(store, Clock(time.time()), settings, feed, rules) as console,
            browser() as client,
        ):
            await sign_in(client, console.base, "sam")
            async with client.get(f"{console.base}/console/wallboard") as page:
                html = await page.text()
    paid = _tile(html, "paid")
    assert "<span data-answered>2</span> answered" in paid
    assert "<span data-abandoned>1</span> abandoned" in paid
    assert "within 15 s: 33%" in paid  # c-1 (10 s after joining paid) of c-1, c-2, c-4
    assert "callbacks 1 open" in paid and "1 overdue" in paid
    oms = _tile(html, "oms")
    assert "<span data-answered>1</span> answered" in oms and "within 20 s: 100%" in oms


def _tile(html: str, queue: str) -> str:
    """The queue's tile, up to the next tile."""
    start = html.index(f'data-queue="{queue}"')
    return html[start : html.index('<div class="tile', start + 1)]


async def test_the_api_serves_the_same_board_masked_to_the_token(live: Live) -> None:
    _wait(live, Caller("c-5", "+79161234567", ["main:3"]), "dms")
    feed = live.console.deps.require_feed()
    app = build_app(bare_deps(live.store), TOKEN)
    add_wallboard_route(app, feed.masked_board)
    bare = build_app(bare_deps(live.store), TOKEN)
    add_wallboard_route(bare, None)
    async with TestServer(app) as server, TestServer(bare) as no_engine, ClientSession() as http:
        async with http.get(server.make_url("/api/wallboard")) as resp:
            assert resp.status == 401  # the API token, as every /api route
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with http.get(server.make_url("/api/wallboard"), headers=auth) as resp:
            body = await resp.json()
        async with http.get(no_engine.make_url("/api/wallboard"), headers=auth) as resp:
            assert (resp.status, (await resp.json())["error_id"]) == (503, "no_live_engine")
    (row,) = body["waiting"]
    assert (row["call_id"], row["queue"], row["caller"]) == ("c-5", "dms", "+7 916 ***-**-67")
    assert body["queues"][0]["name"] == "dms" and body["queues"][0]["waiting"] == 1
    assert {o["id"] for o in body["operators"]} == {"op1001", "op1002"}
