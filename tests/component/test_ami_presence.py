"""AGI-mode presence (router/ami/presence.py) on the real board and context: app_queue's
events move the operators, the no-answer policy pauses them in app_queue, pauses from the
phone show with their reason, and the board's own changes reach app_queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from aiohttp import web
from engine_support import engine_context

from router.ami.presence import AmiPresence
from router.ami.protocol import Message
from router.ami.records import AmiCalls, Handover
from router.config.rules import load_rules
from router.domain.operators import OperatorStatus, Presence
from router.engine.context import EngineSettings

RULES = Path(__file__).resolve().parents[1] / "data" / "agi" / "rules.yaml"
OP = "PJSIP/op1001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, presence: AmiPresence, clock: Clock, sent: list[dict[str, str]]) -> None:
        self.presence, self.clock, self.sent = presence, clock, sent
        self.connected = True

    def event(self, name: str, **fields: str) -> None:
        self.presence.on_event({"Event": name, **fields})

    def member(self, queue: str, paused: bool, reason: str = "", **more: str) -> Message:
        return {
            "Event": "QueueMember",
            "Queue": queue,
            "Location": OP,
            "Paused": "1" if paused else "0",
            "PausedReason": reason,
            "InCall": "0",
            "Status": "1",
            **more,
        }

    def status(self, op_id: str = "op1001") -> OperatorStatus:
        return self.presence.ctx.board.get(op_id)

    async def drained(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    rules = load_rules(RULES)
    settings = EngineSettings(app="clinic-router", ring_timeout_s=15, pause_after_no_answers=3)
    async with engine_context(tmp_path, web.Application(), rules, settings) as ctx:
        ctx.board.update_config(rules.operators)
        sent: list[dict[str, str]] = []
        clock = Clock()
        holder: list[World] = []

        async def action(name: str, fields: Mapping[str, str]) -> Message:
            sent.append({"Action": name, **fields})
            return {"Response": "Success"}

        presence = AmiPresence(ctx, action, lambda: holder[0].connected, clock)
        world = World(presence, clock, sent)
        holder.append(world)
        running = asyncio.create_task(presence.run())
        # app_queue's members as QueueStatus lists them after the login
        presence.resync([world.member("clinic-paid", False), world.member("clinic-skills", False)])
        try:
            yield world
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def ring_out(world: World, seconds: float = 15.0) -> None:
    world.event("AgentCalled", Queue="clinic-paid", Interface=OP, Uniqueid="c1")
    assert world.status().presence is Presence.RINGING
    world.clock.now += seconds
    world.event("AgentRingNoAnswer", Queue="clinic-paid", Interface=OP, Uniqueid="c1")


async def test_a_queue_call_rings_talks_and_wraps_up(world: World) -> None:
    world.event("AgentCalled", Queue="clinic-paid", Interface=OP)
    assert world.status().presence is Presence.RINGING
    world.event("AgentConnect", Queue="clinic-paid", Interface=OP)
    assert world.status().presence is Presence.ON_CALL
    assert world.status().calls_today == 1
    world.event("AgentComplete", Queue="clinic-paid", Interface=OP)
    assert world.status().presence is Presence.AVAILABLE  # wrap_up_s 0
    await world.drained()
    assert world.sent == []  # nothing app_queue needs to hear


async def test_three_rings_let_ring_out_pause_the_member_over_ami(world: World) -> None:
    for _ in range(2):
        await ring_out(world)
        assert world.status().presence is Presence.AVAILABLE
    assert world.status().no_answers == 2
    await ring_out(world)
    assert (world.status().presence, world.status().reason) == (Presence.PAUSED, "no_answer")
    await world.drained()
    assert world.sent == [
        {"Action": "QueuePause", "Interface": OP, "Paused": "true", "Reason": "no_answer"}
    ]
    # app_queue's echo, once per queue, is no news
    world.event(
        "QueueMemberPause", Queue="clinic-paid", Interface=OP, Paused="1", PausedReason="no_answer"
    )
    world.event(
        "QueueMemberPause",
        Queue="clinic-skills",
        Interface=OP,
        Paused="1",
        PausedReason="no_answer",
    )
    await world.drained()
    assert len(world.sent) == 1 and world.status().reason == "no_answer"


async def test_a_busy_or_refused_phone_does_not_count(world: World) -> None:
    for _ in range(4):
        await ring_out(world, seconds=0.3)
    assert world.status().presence is Presence.AVAILABLE and world.status().no_answers == 0


async def test_a_pause_from_the_phone_shows_with_its_reason_and_unpause_makes_ready(
    world: World,
) -> None:
    world.event(
        "QueueMemberPause", Queue="clinic-paid", Interface=OP, Paused="1", PausedReason="lunch"
    )
    assert (world.status().presence, world.status().reason) == (Presence.PAUSED, "lunch")
    world.event("QueueMemberPause", Queue="clinic-paid", Interface=OP, Paused="0")
    assert world.status().presence is Presence.AVAILABLE
    await world.drained()
    assert world.sent == []  # app_queue had it already


async def test_an_admins_pause_and_return_reach_app_queue(world: World) -> None:
    world.presence.ctx.board.request_state("op1001", Presence.PAUSED, "training")
    world.presence.ctx.board.request_state("op1001", Presence.AVAILABLE)
    world.presence.ctx.board.request_state("op1003", Presence.PAUSED, "x")  # not a member
    await world.drained()
    assert world.sent == [
        {"Action": "QueuePause", "Interface": OP, "Paused": "true", "Reason": "training"},
        {"Action": "QueuePause", "Interface": OP, "Paused": "false"},
    ]


async def test_a_pause_during_a_call_pauses_the_member_and_waits_on_the_board(
    world: World,
) -> None:
    world.event("AgentCalled", Queue="clinic-paid", Interface=OP)
    world.event("AgentConnect", Queue="clinic-paid", Interface=OP)
    world.event(
        "QueueMemberPause", Queue="clinic-paid", Interface=OP, Paused="1", PausedReason="lunch"
    )
    assert world.status().presence is Presence.ON_CALL
    pending = world.status().pending
    assert pending is not None and pending.reason == "lunch"
    world.event("AgentComplete", Queue="clinic-paid", Interface=OP)
    assert (world.status().presence, world.status().reason) == (Presence.PAUSED, "lunch")
    await world.drained()
    assert world.sent == []


async def test_after_a_reconnect_app_queue_pauses_show_and_lost_ones_are_sent_again(
    world: World,
) -> None:
    world.connected = False
    world.presence.ctx.board.request_state("op1001", Presence.PAUSED, "training")
    await world.drained()
    assert world.sent == []
    world.connected = True
    world.presence.resync([world.member("clinic-paid", False)])
    await world.drained()
    assert world.sent[-1] == {
        "Action": "QueuePause",
        "Interface": OP,
        "Paused": "true",
        "Reason": "training",
    }
    world.presence.ctx.board.request_state("op1001", Presence.AVAILABLE)
    await world.drained()
    # paused from the phone while the router was away: shown
    world.presence.resync([world.member("clinic-paid", True, "lunch")])
    assert (world.status().presence, world.status().reason) == (Presence.PAUSED, "lunch")


async def test_a_queue_call_that_ended_unseen_lets_go_at_the_resync(world: World) -> None:
    world.event("AgentCalled", Queue="clinic-paid", Interface=OP)
    world.event("AgentConnect", Queue="clinic-paid", Interface=OP)
    world.presence.resync([world.member("clinic-paid", False)])  # InCall 0
    assert world.status().presence is Presence.AVAILABLE


async def test_a_ring_of_ari_mode_is_left_alone(world: World) -> None:
    world.presence.ctx.board.reserve("op1001")  # ARI mode rings op1001
    world.event("AgentRingNoAnswer", Queue="clinic-paid", Interface=OP)
    world.event("AgentComplete", Queue="clinic-paid", Interface=OP)
    assert world.status().presence is Presence.RINGING


async def test_the_managers_dial_moves_the_manager(world: World) -> None:
    """The AGI dialplan's Dial() of the assigned manager is not app_queue's: its events
    reach presence through the call's record (router/ami/records.py)."""
    ctx = world.presence.ctx
    calls = AmiCalls(ctx)
    calls.presence = world.presence
    uid = "1764770001.1"
    handed = Handover(uid, "+79161234567", "p-1", "agi-line", None, "op1004", ctx.rules())
    calls.begin(handed)  # the AGI session's start, then its decision
    calls.decided(handed)
    manager = "PJSIP/op1004"
    channel = {"Uniqueid": uid, "DestChannel": f"{manager}-00000001", "DestUniqueid": "d1"}
    calls.on_event({"Event": "DialBegin", **channel})
    assert world.status("op1004").presence is Presence.RINGING
    calls.on_event({"Event": "DialEnd", "DialStatus": "ANSWER", **channel})
    assert world.status("op1004").presence is Presence.ON_CALL
    calls.on_event({"Event": "Hangup", "Uniqueid": uid})
    assert world.status("op1004").presence is Presence.AVAILABLE
    # a manager who lets it ring out counts towards the pause, as in a queue
    uid2 = "1764770001.2"
    handed = Handover(uid2, "+79161234567", "p-1", "agi-line", None, "op1004", ctx.rules())
    calls.begin(handed)
    calls.decided(handed)
    channel = {"Uniqueid": uid2, "DestChannel": f"{manager}-00000002", "DestUniqueid": "d2"}
    calls.on_event({"Event": "DialBegin", **channel})
    calls.on_event({"Event": "DialEnd", "DialStatus": "NOANSWER", **channel})
    assert world.status("op1004").presence is Presence.AVAILABLE
    assert world.status("op1004").no_answers == 1


async def test_a_queue_with_its_own_wrap_up_gives_it_after_its_calls(
    world: World, tmp_path: Path
) -> None:
    text = RULES.read_text(encoding="utf-8")
    rules_file = tmp_path / "wrap.yaml"
    rules_file.write_text(text.replace("    priority: 5\n", "    priority: 5\n    wrap_up_s: 30\n"))
    rules = load_rules(rules_file)
    assert rules.queues["paid"].wrap_up_s == 30
    world.presence.ctx.rules = lambda: rules
    for queue, then in (("clinic-paid", Presence.WRAP_UP), ("clinic-dms", Presence.AVAILABLE)):
        world.event("AgentCalled", Queue=queue, Interface=OP)
        world.event("AgentConnect", Queue=queue, Interface=OP)
        world.event("AgentComplete", Queue=queue, Interface=OP)
        assert world.status().presence is then, queue
        world.presence.ctx.board.set("op1001", Presence.AVAILABLE)
