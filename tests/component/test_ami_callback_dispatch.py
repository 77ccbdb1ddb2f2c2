"""The callback dispatcher with AGI-mode lines (router/engine/callbacks/ami_attempt.py):
tasks of a `mode: agi` line are dialled over AMI (the fake AMI server answers Originate,
the dialplan's `AGI(.../callback)` is the AGI wire fake) with a real SQLite ledger, and a
restarted router settles or follows them from AMI's channel list, never dialling twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from agi_support import agi_call
from ami_support import FakeAmi
from engine_support import engine_context

from router.agi.server import FastAgiServer
from router.ami.callbacks import AmiDialer
from router.ami.connection import AmiConnection
from router.config.callback_settings import CallbackSettings
from router.config.rules import load_rules
from router.domain.callback_attempt import AttemptStage
from router.engine.callbacks.dispatch import CallbackDispatcher
from router.engine.context import EngineSettings
from router.engine.engine import Engine
from router.storage import Store
from tests.component.test_callback_dispatch_faults import ANNA, FakeAsterisk, a_task, until

RULES = """
skills: {lab: Lab results}
operators:
  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {lab: 3}}
lines:
  - {id: moscow, numbers: ["74952232222"], routes: main, mode: agi}
routes:
  main:
    - {name: lab, then: {queue: lab}}
queues:
  lab:
    steps: [{after_s: 0, skills: [lab]}]
callback:
  retry_after_min: [1, 1]
  max_attempts: 3
"""


@dataclass
class Setup:
    asterisk: FakeAsterisk
    ami: FakeAmi
    agi: FastAgiServer
    store: Store
    dispatcher: CallbackDispatcher


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    asterisk = FakeAsterisk()
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(RULES, encoding="utf-8")
    rules = load_rules(rules_path)
    tasks: list[asyncio.Task[None]] = []

    def spawn(coro: Awaitable[None], name: str) -> None:
        tasks.append(asyncio.ensure_future(coro))

    fake = FakeAmi()
    port = await fake.start()
    sink: list[AmiDialer] = []
    connection = AmiConnection("127.0.0.1", port, "u", "s", lambda e: sink[0].on_event(e))
    dialer = AmiDialer(connection)
    sink.append(dialer)
    running = asyncio.create_task(connection.run())
    agi = FastAgiServer({"callback": dialer.agi_callback}, "127.0.0.1", 0)
    await agi.start()
    settings = EngineSettings(app="clinic-router", ring_timeout_s=5)
    try:
        async with engine_context(tmp_path, asterisk.app(), rules, settings) as ctx:
            ctx.board.update_config(rules.operators)  # on duty, available
            asterisk.engine = Engine(ctx)
            cfg = CallbackSettings(poll_s=60, whisper_digits=2)
            # ARI is down here: only the AMI path may dial
            dispatcher = CallbackDispatcher(ctx, cfg, "clinic-router", spawn, lambda: False)
            dispatcher.use_ami(dialer)
            async with asyncio.timeout(5):
                await connection.connected.wait()
            try:
                yield Setup(asterisk, fake, agi, ctx.store, dispatcher)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await agi.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fake.close()


def originates(fake: FakeAmi) -> list[dict[str, str]]:
    return [a for a in fake.actions if a["Action"] == "Originate"]


async def started_attempt(store: Store, stage: AttemptStage) -> int:
    """A task whose attempt 1 a stopped router started and got as far as `stage`."""
    task_id = await a_task(store)
    now = datetime.now(UTC)
    [claimed] = await store.callbacks.claim_due(now, "clinic-router", 1)
    assert claimed.id == task_id
    assert await store.callbacks.start_attempt(task_id, "clinic-router", now, "op1001")
    assert await store.callbacks.set_stage(task_id, "clinic-router", stage)
    return task_id


async def test_a_task_of_an_agi_line_is_dialled_over_ami_operator_first(setup: Setup) -> None:
    task_id = await a_task(setup.store)
    await setup.dispatcher.tick()
    assert originates(setup.ami) == []  # not before the AMI resume
    await setup.dispatcher.resume_ami()
    await setup.dispatcher.tick()
    await until(lambda: originates(setup.ami), 5)
    [action] = originates(setup.ami)
    assert (action["Channel"], action["CallerID"]) == ("PJSIP/op1001", ANNA)
    leg = action["ChannelId"]
    assert leg.startswith(f"cr-cb-{task_id}-1-")
    task = await setup.store.callbacks.get(task_id)
    assert task is not None and task.attempts == 0  # ringing: no attempt yet
    session = await agi_call(setup.agi.port, "", "s", uniqueid=leg, script="callback")
    assert session.variables["CR_GO"] == "yes"
    assert session.variables["CR_DIGITS"] == ANNA[-2:]
    assert session.variables["CR_DIAL"] == f"PJSIP/{ANNA.lstrip('+')}@patients"
    task = await setup.store.callbacks.get(task_id)
    assert task is not None and task.attempts == 1 and task.attempt_stage == "patient"
    setup.ami.send("DialBegin", Uniqueid=leg, DestUniqueid="pt")
    setup.ami.send("DialEnd", Uniqueid=leg, DialStatus="BUSY")
    setup.ami.send("Hangup", Uniqueid=leg)

    async def finished() -> bool:
        task = await setup.store.callbacks.get(task_id)
        return task is not None and task.last_outcome is not None

    deadline = asyncio.get_running_loop().time() + 5
    while not await finished():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)  # polling the ledger, bounded by the deadline
    task = await setup.store.callbacks.get(task_id)
    assert task is not None
    assert (task.state, task.last_outcome, task.attempts) == ("open", "busy", 1)
    assert task.due_at > datetime.now(UTC) + timedelta(seconds=30)  # retry_after_min: 1
    assert setup.asterisk.originated() == []  # nothing over ARI


async def test_a_restart_with_the_leg_gone_settles_by_the_stage_and_dials_nobody(
    setup: Setup,
) -> None:
    task_id = await started_attempt(setup.store, AttemptStage.PATIENT)
    await setup.dispatcher.resume_ami()
    task = await setup.store.callbacks.get(task_id)
    assert task is not None
    # dialled, no answer anyone saw: the retry schedule, never an immediate redial
    assert (task.state, task.last_outcome) == ("open", "no_answer")
    assert task.due_at > datetime.now(UTC) + timedelta(seconds=30)
    await setup.dispatcher.tick()
    await asyncio.sleep(0.2)
    assert originates(setup.ami) == []


async def test_a_restart_with_the_leg_up_follows_it_and_dials_nobody(setup: Setup) -> None:
    task_id = await started_attempt(setup.store, AttemptStage.PATIENT)
    leg = f"cr-cb-{task_id}-1-abc123"
    setup.ami.live.append(leg)
    await setup.dispatcher.resume_ami()
    await asyncio.sleep(0.2)  # the attempt follows the leg (and lists the channels again)
    task = await setup.store.callbacks.get(task_id)
    assert task is not None and task.state == "claimed" and task.last_outcome is None
    setup.ami.send("DialEnd", Uniqueid=leg, DialStatus="ANSWER")
    setup.ami.send("Hangup", Uniqueid=leg)
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        task = await setup.store.callbacks.get(task_id)
        assert task is not None
        if task.state != "claimed":
            break
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)  # polling the ledger, bounded by the deadline
    assert (task.state, task.last_outcome, task.attempts) == ("closed", "connected", 1)
    assert originates(setup.ami) == []
