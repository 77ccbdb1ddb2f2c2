"""The callback dispatcher against a fake Asterisk and a real SQLite ledger: faults the
sandbox rarely produces on demand (a patient table that cannot be read, a playback
Asterisk refuses) and the wake-up on a new task.

The fake answers the REST calls a callback makes as Asterisk 22 does (201 originate with
the channel, endpoint state, 204 hang-up) and, as the event WebSocket would, hands the
engine a StasisStart when an operator leg "answers".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from engine_support import engine_context
from sqlalchemy import text

from router.ari.events import parse_event
from router.config.callback_settings import CallbackSettings
from router.config.rules import load_rules
from router.domain.miss_target import MissTarget
from router.domain.operators import Presence
from router.engine.callbacks.dispatch import CallbackDispatcher
from router.engine.context import CallContext, EngineSettings
from router.engine.engine import Engine
from router.storage import MissInput, Store

RULES = """
skills: {lab: Lab results, desk: Front desk}
operators:
  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {lab: 3}}
  - {id: op1002, name: Maria, endpoint: PJSIP/op1002, skills: {lab: 3}}
  - {id: op1003, name: Olga, endpoint: PJSIP/op1003, skills: {desk: 1}}
lines:
  - {id: moscow, numbers: ["74952232222"], routes: main}
routes:
  main:
    - {name: lab, then: {queue: lab}}
queues:
  lab:
    steps: [{after_s: 0, skills: [lab]}]
  desk:
    steps: [{after_s: 0, skills: [desk]}]
"""
ANNA = "+79161234567"
OLGA = "+79167654321"


@dataclass
class FakeAsterisk:
    """REST as Asterisk answers it; answered operator legs enter Stasis (an event)."""

    play_status: int = 201
    engine: Engine | None = None
    requests: list[tuple[str, str, float]] = field(default_factory=list)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._log])
        app.router.add_get("/ari/channels", self._list)
        app.router.add_post("/ari/channels", self._originate)
        app.router.add_delete("/ari/channels/{id}", self._hangup)
        app.router.add_post("/ari/channels/{id}/play", self._play)
        app.router.add_delete("/ari/playbacks/{id}", self._no_content)
        app.router.add_get("/ari/endpoints/{tech}/{resource}", self._endpoint)
        return app

    def seen(self, method: str, path_start: str) -> list[float]:
        return [at for m, p, at in self.requests if m == method and p.startswith(path_start)]

    def originated(self) -> list[float]:
        return [at for m, p, at in self.requests if (m, p) == ("POST", "/ari/channels")]

    @web.middleware
    async def _log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path, time.monotonic()))
        response: web.StreamResponse = await handler(request)
        return response

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.channels.values()))

    async def _originate(self, request: web.Request) -> web.Response:
        body = await request.json()
        channel = {"id": body["channelId"], "name": body["endpoint"], "state": "Down"}
        self.channels[channel["id"]] = channel
        if "-op" in channel["id"] and self.engine is not None:
            engine, args = self.engine, body.get("appArgs", "")
            answered = {**channel, "state": "Up"}
            event = {"type": "StasisStart", "channel": answered, "args": args.split(",")}
            asyncio.get_running_loop().call_soon(engine.on_event, parse_event(event))
        return web.json_response(channel)

    async def _hangup(self, request: web.Request) -> web.Response:
        self.channels.pop(request.match_info["id"], None)
        return web.Response(status=204)

    async def _play(self, request: web.Request) -> web.Response:
        if self.play_status != 201:
            return web.json_response({"message": "Internal error"}, status=self.play_status)
        body = await request.json()
        playback = {
            "id": body.get("playbackId", "p"),
            "target_uri": f"channel:{request.match_info['id']}",
            "media_uri": body["media"][0],
            "state": "done",
        }
        if not playback["media_uri"].startswith("tone:") and self.engine is not None:
            finished = parse_event({"type": "PlaybackFinished", "playback": playback})
            asyncio.get_running_loop().call_soon(self.engine.on_event, finished)
        return web.json_response({**playback, "state": "queued"}, status=201)

    async def _no_content(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _endpoint(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        return web.json_response(
            {"technology": "PJSIP", "resource": resource, "state": "online", "channel_ids": []}
        )


@dataclass
class Setup:
    asterisk: FakeAsterisk
    ctx: CallContext
    store: Store
    dispatcher: CallbackDispatcher
    tasks: list[asyncio.Task[None]]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    asterisk = FakeAsterisk()
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(RULES, encoding="utf-8")
    rules = load_rules(rules_path)
    tasks: list[asyncio.Task[None]] = []

    def spawn(coro: Awaitable[None], name: str) -> None:
        tasks.append(asyncio.ensure_future(coro))

    settings = EngineSettings(app="clinic-router", ring_timeout_s=5)
    async with engine_context(tmp_path, asterisk.app(), rules, settings) as ctx:
        ctx.board.update_config(rules.operators)  # on duty, available
        asterisk.engine = Engine(ctx)
        cfg = CallbackSettings(poll_s=60, whisper_digits=0)
        dispatcher = CallbackDispatcher(ctx, cfg, "clinic-router", spawn, lambda: True)
        try:
            yield Setup(asterisk, ctx, ctx.store, dispatcher, tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def a_task(
    store: Store,
    patient_id: str | None = None,
    number: str = ANNA,
    target: MissTarget | None = None,
    minutes_ago: float = 1,
) -> int:
    now = datetime.now(UTC)
    result = await store.callbacks.record_miss(
        MissInput(
            call_id=f"call-{time.monotonic_ns()}",
            line="moscow",
            number_e164=number,
            patient_id=patient_id,
            reason="max_wait",
            waited_s=30.0,
            missed_at=now - timedelta(minutes=minutes_ago),
            due_at=now - timedelta(minutes=minutes_ago),
            create_task=True,
            target=target,
        )
    )
    assert result.task_id is not None
    return result.task_id


async def until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)  # polling a condition, bounded by the deadline


async def test_an_unreadable_patient_record_holds_the_callback_and_says_so_once(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = await a_task(setup.store, patient_id="p1")
    async with setup.store.db.begin() as conn:  # the database fails under the read
        await conn.execute(text("ALTER TABLE patients RENAME TO patients_gone"))
    caplog.set_level(logging.ERROR, logger="router.engine.callbacks.dispatch")
    await setup.dispatcher.tick()
    await setup.dispatcher.tick()
    task = await setup.store.callbacks.get(task_id)
    assert task is not None and task.state == "open" and task.attempts == 0
    assert task.due_at > datetime.now(UTC) + timedelta(seconds=20)  # retried later
    assert setup.tasks == [] and setup.asterisk.originated() == []
    held = [r for r in caplog.records if "patient records unreadable" in r.getMessage()]
    assert len(held) == 1


async def test_a_new_task_wakes_the_dispatcher_at_once(setup: Setup) -> None:
    runner = asyncio.create_task(setup.dispatcher.run())
    try:
        await a_task(setup.store, number=ANNA)
        await setup.dispatcher.resume()  # connected: the loop works the first task
        # Its attempt rings the patient: the loop is back asleep (poll_s is 60 s).
        await until(lambda: len(setup.asterisk.originated()) == 2, 5)
        asked = len(setup.asterisk.seen("GET", "/ari/endpoints/"))
        await a_task(setup.store, number=OLGA)
        # The new task is offered to a free operator at once, not a minute later.
        await until(lambda: len(setup.asterisk.seen("GET", "/ari/endpoints/")) > asked, 3)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


@pytest.mark.parametrize("status", [500, 409])
async def test_a_refused_whisper_does_not_hold_the_callback_for_20_seconds(
    setup: Setup, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    setup.asterisk.play_status = status
    await a_task(setup.store)
    await setup.dispatcher.resume()
    await setup.dispatcher.tick()
    await until(lambda: setup.asterisk.seen("POST", "/ari/channels/cb-"), 5)  # the whisper
    whispered = setup.asterisk.seen("POST", "/ari/channels/cb-")[0]
    # The patient is dialled at once: no PlaybackFinished comes for a refused playback.
    await until(lambda: len(setup.asterisk.originated()) == 2, 5)
    patient_dialled = setup.asterisk.originated()[1]
    assert patient_dialled - whispered < 2.0
    assert any("cannot play" in r.getMessage() for r in caplog.records)
    on_call = [s for s in setup.ctx.board.statuses() if s.presence is Presence.ON_CALL]
    assert len(on_call) == 1


async def test_a_task_nobody_free_may_take_does_not_hold_up_the_next(setup: Setup) -> None:
    for op in ("op1001", "op1002"):
        setup.ctx.board.set(op, Presence.PAUSED)  # the lab is busy; the desk is free
    lab = await a_task(setup.store, number=ANNA, target=MissTarget("moscow", "lab"), minutes_ago=5)
    desk = await a_task(setup.store, number=OLGA, target=MissTarget("moscow", "desk"))
    await setup.dispatcher.resume()
    await setup.dispatcher.tick()
    first, second = await setup.store.callbacks.get(lab), await setup.store.callbacks.get(desk)
    assert first is not None and second is not None
    assert (first.state, first.claimed_by) == ("open", None)  # waits for a lab operator
    assert second.state == "claimed"  # went ahead, to the desk
    await until(lambda: setup.asterisk.seen("GET", "/ari/endpoints/PJSIP/op1003"), 3)
    assert setup.asterisk.seen("GET", "/ari/endpoints/PJSIP/op1001") == []


async def test_a_stop_while_the_patient_rings_leaves_both_legs_for_the_next_start(
    setup: Setup,
) -> None:
    task_id = await a_task(setup.store)
    await setup.dispatcher.resume()
    await setup.dispatcher.tick()
    await until(lambda: len(setup.asterisk.originated()) == 2, 5)  # the patient rings
    for running in setup.tasks:  # what Engine.stop does on SIGTERM
        running.cancel()
    await asyncio.gather(*setup.tasks, return_exceptions=True)
    assert setup.asterisk.seen("DELETE", "/ari/channels/") == []  # nobody hung up
    assert len(setup.asterisk.channels) == 2
    task = await setup.store.callbacks.get(task_id)
    assert task is not None and (task.state, task.attempt_stage) == ("claimed", "patient")
