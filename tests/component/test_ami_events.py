"""The AMI path against Asterisk's side of the wire: a fake AMI server that greets, answers
every action and sends app_queue's events; the router's real connection, call handler,
journal and callback ledger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from agi_support import agi_call, menu_call
from aiohttp import web
from ami_support import FakeAmi
from engine_support import engine_context

from router.agi.call import agi_routes
from router.agi.decision import AGI_APP
from router.agi.server import FastAgiServer
from router.agi.service import AgiService
from router.ami.connection import AmiConnection
from router.ami.records import AmiCalls, Handover
from router.config.rules import load_rules
from router.config.settings import load_settings
from router.engine.context import CallContext
from router.storage.journal import NewCall
from router.storage.models import CallRow, PatientRecord
from tests.engine.database_lock import database_locked

RULES = Path(__file__).resolve().parents[1] / "data" / "agi" / "rules.yaml"
DID = "74957770000"


@pytest.fixture
async def world(
    tmp_path: Path,
) -> AsyncIterator[tuple[FakeAmi, FastAgiServer, AmiConnection, CallContext]]:
    rules = load_rules(RULES)
    fake = FakeAmi()
    port = await fake.start()
    async with engine_context(tmp_path, web.Application(), rules) as ctx:
        calls = AmiCalls(ctx)
        ami = AmiConnection("127.0.0.1", port, "clinic-router", "s3cret", calls.on_event)
        running = asyncio.create_task(ami.run())
        server = FastAgiServer(agi_routes(ctx, calls), "127.0.0.1", 0)
        await server.start()
        try:
            async with asyncio.timeout(5):
                await ami.connected.wait()
            yield fake, server, ami, ctx
        finally:
            await server.close()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await fake.close()


async def until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition with a deadline (the journal is written behind the call)."""
    async with asyncio.timeout(timeout):
        while True:
            if await predicate():
                return
            await asyncio.sleep(0.02)


async def test_login_asks_only_for_the_events_it_reads(world) -> None:  # type: ignore[no-untyped-def]
    fake, _, _, _ = world
    login = fake.actions[0]
    assert (login["Action"], login["Username"], login["Secret"]) == (
        "Login",
        "clinic-router",
        "s3cret",
    )
    filters = [a["Filter"] for a in fake.actions if a["Action"] == "Filter"]
    assert "Event: QueueCallerAbandon" in filters and "Variable: QUEUESTATUS" in filters


async def test_abandon_while_queued_is_one_task_and_a_repeat_call_merges(world) -> None:  # type: ignore[no-untyped-def]
    fake, server, _, ctx = world
    for uid in ("1764770000.1", "1764770000.2"):
        session = await agi_call(server.port, "+79990001144", DID, keys=["1"], uniqueid=uid)
        assert session.variables["CR_QUEUE"] == "clinic-paid"
        fake.send("QueueCallerJoin", Uniqueid=uid, Queue="clinic-paid", Position="1")
        fake.send("QueueCallerAbandon", Uniqueid=uid, Queue="clinic-paid", HoldTime="30")
        fake.send("QueueCallerLeave", Uniqueid=uid, Queue="clinic-paid")
        fake.send("Hangup", Uniqueid=uid, Cause="16")

        async def ended(uid: str = uid) -> bool:
            await ctx.recorder.flush(1.0)
            call = await ctx.store.calls.get(uid)
            return call is not None and call.outcome == "abandoned"

        await until(ended)
    tasks = await ctx.store.callbacks.list()
    assert len(tasks) == 1 and tasks[0].number_e164 == "+79990001144"
    misses = await ctx.store.calls.events_of(["1764770000.1", "1764770000.2"], ["miss"])
    assert [m.data["reason"] for ms in misses.values() for m in ms] == ["abandoned", "abandoned"]


async def test_an_answer_closes_the_journey_and_the_events_survive_a_reconnect(world) -> None:  # type: ignore[no-untyped-def]
    fake, server, ami, ctx = world
    uid = "1764770000.3"
    await agi_call(server.port, "+79990001155", DID, keys=["3"], uniqueid=uid)
    fake.send("QueueCallerJoin", Uniqueid=uid, Queue="clinic-dms", Position="1")
    fake.live = [uid]  # the channel is still there when the router asks after the reconnect
    fake.drop()  # Asterisk's side goes away; the connection comes back by itself
    await until(lambda: _true(len(fake.writers) == 2 and ami.connected.is_set()))
    fake.send("AgentCalled", Uniqueid=uid, Interface="PJSIP/op1003", DestUniqueid="a1")
    fake.send(
        "AgentConnect", Uniqueid=uid, Interface="PJSIP/op1003", DestUniqueid="a1", RingTime="2"
    )
    fake.send("Hangup", Uniqueid=uid)

    async def answered() -> bool:
        await ctx.recorder.flush(1.0)
        call = await ctx.store.calls.get(uid)
        return call is not None and call.outcome == "answered"

    await until(answered)
    call = await ctx.store.calls.get(uid)
    assert call is not None and call.operator_id == "op1003" and call.answered_at is not None
    kinds = [e.kind for e in (await ctx.store.calls.events_of([uid]))[uid]]
    assert kinds[-4:] == ["waiting", "ringing", "connected", "outcome"]


async def _true(value: bool) -> bool:
    return value


async def outcome_of(ctx: CallContext, uid: str) -> str | None:
    await ctx.recorder.flush(1.0)
    call = await ctx.store.calls.get(uid)
    return None if call is None else call.outcome


async def test_a_session_read_after_its_channel_hung_up_still_gets_an_outcome(world) -> None:  # type: ignore[no-untyped-def]
    """Under load the router reads the AMI stream ahead of the AGI sessions: the caller's
    Hangup is read before the session's header, and the session's first command finds the
    channel gone. The call is still recorded, as a hang-up before the decision."""
    fake, server, ami, ctx = world
    uid = "1764770000.11"
    fake.send("Hangup", Uniqueid=uid, Linkedid=uid, Cause="16")
    await ami.action("Ping")  # its reply comes after the event: the event has been read
    session = await agi_call(server.port, "+79990001166", DID, hangup_after=0, uniqueid=uid)
    assert session.commands == [f'SET VARIABLE "CR_CALL" "{uid}"']
    await until(lambda: _is(outcome_of(ctx, uid), "abandoned"))
    kinds = [e.kind for e in (await ctx.store.calls.events_of([uid]))[uid]]
    assert kinds == ["arrived", "abandoned", "miss", "outcome"]
    [miss] = (await ctx.store.calls.events_of([uid], ["miss"]))[uid]
    assert miss.data["reason"] == "abandoned_in_ivr"


async def test_a_decision_after_the_dialplan_gave_up_is_late_and_the_queue_answer_counts(  # type: ignore[no-untyped-def]
    world,
) -> None:
    """CR_AGI_TIMEOUT fired while the router decided: the decision's command finds the
    channel moved on, and the plain queue serves the caller. The record says so: answered
    by whom, the decision marked late; no miss, no callback task."""
    fake, server, _, ctx = world
    await ctx.store.patients.upsert(
        [PatientRecord("p-1", "Anna", ("+79161234567",), assigned_operator_id="op1004")]
    )
    uid = "1764770000.12"
    session = await agi_call(server.port, "+79161234567", DID, hangup_after=1, uniqueid=uid)
    assert session.commands[1].startswith("EXEC") and "CR_TARGET" not in session.variables
    fake.send("QueueCallerJoin", Uniqueid=uid, Queue="clinic-router-fallback", Position="1")
    fake.send("AgentCalled", Uniqueid=uid, Interface="PJSIP/op1003", DestUniqueid="b1")
    fake.send("AgentConnect", Uniqueid=uid, Interface="PJSIP/op1003", DestUniqueid="b1")
    fake.send("Hangup", Uniqueid=uid, Cause="16")
    await until(lambda: _is(outcome_of(ctx, uid), "answered"))
    call = await ctx.store.calls.get(uid)
    assert call is not None and call.operator_id == "op1003"
    events = (await ctx.store.calls.events_of([uid]))[uid]
    kinds = [e.kind for e in events]
    assert (
        kinds[-6:]
        == [
            "agi_unsent",
            "agi_late",
            "waiting",
            "ringing",
            "connected",
            "outcome",
        ][-7:]
        and "miss" not in kinds
        and "agi_decision" not in kinds
    )
    unsent = next(e for e in events if e.kind == "agi_unsent")
    assert unsent.data["target"] == "operator"
    assert await ctx.store.callbacks.list() == []


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_rules_become_app_queue_files_and_a_queue_reload(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, server, ami, ctx = world
    folder = tmp_path / "asterisk"
    folder.mkdir()
    (tmp_path / "router.yaml").write_text(
        f"routing:\n  rules: {RULES}\nagi:\n  enabled: true\n  queues_dir: {folder}\n",
        encoding="utf-8",
    )
    settings = load_settings(tmp_path / "router.yaml", secrets=False)
    service = AgiService(server, AmiCalls(ctx), ami, settings)
    await service.rules_changed(ctx.rules())
    queues = (folder / "clinic-router-agi-queues.conf").read_text()
    assert "[clinic-paid]" in queues and "member => PJSIP/op1002,1" in queues
    assert "penaltychange => 8,1" in (folder / "clinic-router-agi-queuerules.conf").read_text()
    reloads = [a for a in fake.actions if a["Action"] == "QueueReload"]
    assert [(r["Rules"], r["Members"]) for r in reloads] == [("yes", "yes")]
    await service.rules_changed(ctx.rules())  # nothing changed: no second reload
    assert len([a for a in fake.actions if a["Action"] == "QueueReload"]) == 1


async def test_a_restarted_router_follows_live_calls_again_and_closes_the_gone(
    tmp_path: Path,
) -> None:
    rules = load_rules(RULES)
    fake = FakeAmi()
    port = await fake.start()
    async with engine_context(tmp_path, web.Application(), rules) as ctx:
        # the journal of a router that stopped while two AGI-mode calls were queued
        for uid in ("1764770000.7", "1764770000.8"):
            ctx.recorder.record(
                NewCall(CallRow(uid, AGI_APP, "+79990001177", DID, ctx.now(), "routing"))
            )
        assert await ctx.recorder.flush(5.0)
        fake.live = ["1764770000.7"]  # .8 ended while nobody listened
        (tmp_path / "router.yaml").write_text(f"routing:\n  rules: {RULES}\n", encoding="utf-8")
        settings = load_settings(tmp_path / "router.yaml", secrets=False)
        calls = AmiCalls(ctx)
        ami = AmiConnection("127.0.0.1", port, "clinic-router", "s3cret", calls.on_event)
        server = FastAgiServer(agi_routes(ctx, calls), "127.0.0.1", 0)
        service = AgiService(server, calls, ami, settings)
        await service.start()
        try:
            await until(lambda: _true(len(calls) == 1))
            fake.send("QueueCallerAbandon", Uniqueid="1764770000.7", HoldTime="40")

            async def both_closed() -> bool:
                await ctx.recorder.flush(1.0)
                rows = [await ctx.store.calls.get(u) for u in ("1764770000.7", "1764770000.8")]
                return all(r is not None and r.outcome for r in rows)

            await until(both_closed)
            live, gone = [await ctx.store.calls.get(u) for u in ("1764770000.7", "1764770000.8")]
            assert live is not None and live.outcome == "abandoned"
            assert gone is not None and gone.outcome == "lost"
        finally:
            await service.close()
            await fake.close()


async def pressing_9_with_a_hangup_read(world, uid: str, before: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """A caller who presses 9 (a callback) in the menu; the caller's Hangup is read by the
    router before Asterisk answers the first command starting with one of `before`."""
    fake, server, ami, ctx = world

    async def hangup_read() -> bool:
        fake.send("Hangup", Uniqueid=uid, Linkedid=uid, Cause="16")
        await ami.action("Ping")  # its reply comes after the event: read
        return False  # Asterisk still answers the session's commands

    await menu_call(server.port, uid, "9", before, hangup_read)
    assert await ctx.recorder.flush(5.0)


async def test_a_hangup_read_while_a_callback_is_promised_is_not_a_second_outcome(world) -> None:  # type: ignore[no-untyped-def]
    """The caller presses 9 and hangs up while the router sends the promise: the Hangup is
    read after the session wrote the callback (and its task) but before its decision
    reached the channel. The call keeps its one outcome and its one miss, the request's."""
    ctx, uid = world[3], "1764770000.13"
    await pressing_9_with_a_hangup_read(world, uid, ("EXEC",))
    kinds = [e.kind for e in (await ctx.store.calls.events_of([uid]))[uid]]
    assert kinds.count("outcome") == 1 and kinds.count("miss") == 1 and "abandoned" not in kinds
    [miss] = (await ctx.store.calls.events_of([uid], ["miss"]))[uid]
    assert miss.data["reason"] == "requested" and miss.data["task"] is True
    assert await outcome_of(ctx, uid) == "callback"
    assert [t.number_e164 for t in await ctx.store.callbacks.list()] == ["+79990001188"]


async def test_a_callback_chosen_after_the_hangup_was_read_is_not_a_second_outcome(world) -> None:  # type: ignore[no-untyped-def]
    """The other order: the Hangup is read (the call ends, abandoned in the IVR) before the
    session, holding the caller's 9, decides on the callback: it writes nothing more."""
    ctx, uid = world[3], "1764770000.16"
    await pressing_9_with_a_hangup_read(world, uid, ("STREAM FILE", "WAIT FOR DIGIT"))
    kinds = [e.kind for e in (await ctx.store.calls.events_of([uid]))[uid]]
    assert kinds.count("outcome") == 1 and kinds.count("miss") == 1
    assert "agi_decision" not in kinds
    [miss] = (await ctx.store.calls.events_of([uid], ["miss"]))[uid]
    assert miss.data["reason"] == "abandoned_in_ivr"
    assert await outcome_of(ctx, uid) == "abandoned"


async def test_calls_whose_hangup_came_while_ami_was_away_end_as_the_hangup_would(
    tmp_path: Path,
) -> None:
    """A resync finds followed calls gone: the one still deciding is a hang-up in the IVR,
    the queued one a max_wait miss; each has its miss (not `lost` with none), and one
    outcome: its row, still open in the database while the outcome waits in the journal's
    batch, is not read as an open call nobody follows and closed again as lost."""
    now = [100.0]
    async with engine_context(tmp_path, web.Application(), load_rules(RULES)) as ctx:
        calls = AmiCalls(ctx, clock=lambda: now[0])
        deciding, queued = "1764770000.14", "1764770000.15"
        for uid, number in ((deciding, "+79990001201"), (queued, "+79990001202")):
            ctx.recorder.record(NewCall(CallRow(uid, AGI_APP, number, DID, ctx.now(), "routing")))
            calls.begin(Handover(uid, number, None, "agi-line", None, None, ctx.rules()))
        calls.decided(Handover(queued, "+79990001202", None, "agi-line", None, None, ctx.rules()))
        calls.on_event({"Event": "QueueCallerJoin", "Uniqueid": queued, "Queue": "clinic-paid"})
        assert await ctx.recorder.flush(5.0)  # the rows were written long before the outage
        now[0] = 140.0
        await calls.resync([], calls.mark())
        assert len(calls) == 0
        assert [await outcome_of(ctx, u) for u in (deciding, queued)] == [
            "abandoned",
            "no_operator",
        ]
        misses = await ctx.store.calls.events_of([deciding, queued], ["miss"])
        assert [(m.data["reason"], m.data["waited_s"]) for ms in misses.values() for m in ms] == [
            ("abandoned_in_ivr", 40.0),
            ("max_wait", 40.0),
        ]
        assert await outcome_steps(ctx, deciding, queued) == [["abandoned"], ["no_operator"]]


async def outcome_steps(ctx: CallContext, *uids: str) -> list[list[object]]:
    """Each call's `outcome` journey steps, in order."""
    assert await ctx.recorder.flush(5.0)
    steps = await ctx.store.calls.events_of(list(uids), ["outcome"])
    return [[e.data["outcome"] for e in steps.get(u, [])] for u in uids]


async def test_a_call_ended_by_its_hangup_just_before_a_disconnect_is_not_closed_again(
    tmp_path: Path,
) -> None:
    """The caller's Hangup is read, then AMI drops and logs in again before the journal
    wrote the outcome: the resync waits for those writes before it reads the open calls,
    or it reads the row as open, its channel gone, and closes it again as lost."""
    async with engine_context(tmp_path, web.Application(), load_rules(RULES)) as ctx:
        calls, uid = AmiCalls(ctx), "1764770000.17"
        ctx.recorder.record(
            NewCall(CallRow(uid, AGI_APP, "+79990001203", DID, ctx.now(), "routing"))
        )
        calls.begin(Handover(uid, "+79990001203", None, "agi-line", None, None, ctx.rules()))
        assert await ctx.recorder.flush(5.0)
        calls.on_event({"Event": "Hangup", "Uniqueid": uid, "Linkedid": uid, "Cause": "16"})
        await calls.resync([], calls.mark())
        assert await outcome_of(ctx, uid) == "abandoned"
        assert await outcome_steps(ctx, uid) == [["abandoned"]]


async def test_an_adopted_call_takes_its_events_read_during_the_resync(tmp_path: Path) -> None:
    """A restarted router adopts a queued call: the Hangup read after Asterisk listed the
    channel, while the resync read the database, was kept for nobody; the adopted call
    takes it and ends (it stayed open until the next login)."""
    async with engine_context(tmp_path, web.Application(), load_rules(RULES)) as ctx:
        uid = "1764770000.18"
        ctx.recorder.record(
            NewCall(CallRow(uid, AGI_APP, "+79990001204", DID, ctx.now(), "routing"))
        )
        assert await ctx.recorder.flush(5.0)
        calls = AmiCalls(ctx)
        asked = calls.mark()
        calls.on_event({"Event": "Hangup", "Uniqueid": uid, "Linkedid": uid, "Cause": "16"})
        await calls.resync([{"Uniqueid": uid, "Application": "Queue"}], asked)
        assert len(calls) == 0
        assert await outcome_steps(ctx, uid) == [["no_operator"]]


async def test_a_call_answered_before_a_restart_ends_answered_though_its_end_went_unseen(
    tmp_path: Path,
) -> None:
    """The journal holds the calls' answers (a router that stopped while they talked). One
    channel is gone at the login: answered, not lost. The other is listed in Queue() with
    no bridge and is adopted; gone at the next login, it ends answered, not as a max_wait
    miss with a callback task for a patient who was served."""
    async with engine_context(tmp_path, web.Application(), load_rules(RULES)) as ctx:
        gone, later = "1764770000.41", "1764770000.42"
        for uid in (gone, later):
            row = CallRow(
                uid, AGI_APP, "+79990001205", DID, ctx.now(), "bridged",
                caller_e164="+79990001205", answered_at=ctx.now(), operator_id="op1001",
            )  # fmt: skip
            ctx.recorder.record(NewCall(row))
        assert await ctx.recorder.flush(5.0)
        calls = AmiCalls(ctx)
        await calls.resync([{"Uniqueid": later, "Application": "Queue"}], calls.mark())
        assert len(calls) == 1
        await calls.resync([], calls.mark())
        assert await outcome_steps(ctx, gone, later) == [["answered"], ["answered"]]
        misses = await ctx.store.calls.events_of([gone, later], ["miss"])
        assert misses == {gone: [], later: []}
        assert await ctx.store.callbacks.list() == []


async def test_a_burst_of_sessions_finding_their_channels_gone_asks_asterisk_once(
    tmp_path: Path,
) -> None:
    """A router frozen past CR_AGI_TIMEOUT reads its sessions late, all at once, each
    finding its channel gone: one channel list serves every call due (it was one full
    CoreShowChannels per call), and the gone ones are closed."""
    async with engine_context(tmp_path, web.Application(), load_rules(RULES)) as ctx:
        calls, asked = AmiCalls(ctx), [0]

        async def channels() -> list[dict[str, str]]:
            asked[0] += 1
            return [{"Uniqueid": "1764770000.53"}]  # went on in the plain queue

        calls.channels, calls.check_after_s = channels, 0.05
        uids = [f"1764770000.{n}" for n in (51, 52, 53)]
        for uid in uids:
            row = CallRow(uid, AGI_APP, "+79990001206", DID, ctx.now(), "routing")
            ctx.recorder.record(NewCall(row))
            calls.begin(Handover(uid, "+79990001206", None, "agi-line", None, None, ctx.rules()))
            calls.check_gone(uid)
        await until(lambda: _true(len(calls) == 1))
        await asyncio.sleep(0.1)  # a second list would have come by now
        assert asked == [1]
        assert [await outcome_of(ctx, u) for u in uids] == ["abandoned", "abandoned", None]
        # a session read after that list gets a list of its own, a window later
        late = "1764770000.54"
        ctx.recorder.record(NewCall(CallRow(late, AGI_APP, "+79990001207", DID, ctx.now())))
        calls.begin(Handover(late, None, None, "agi-line", None, None, ctx.rules()))
        calls.check_gone(late)
        await until(lambda: _true(len(calls) == 1))
        assert asked == [2]
        calls.close()


async def test_while_the_journal_is_behind_a_resync_leaves_out_only_calls_with_queued_writes(
    tmp_path: Path,
) -> None:
    """The caller's Hangup is read (abandoned in the IVR, the outcome queued), then AMI
    drops and logs in again while the database is slow to write: the flush times out.
    That call's row, still open in the database, is left to its queued outcome (closed
    again as lost it had two, the last written winning); an open call nobody follows whose
    channel is gone is closed all the same, not left to a next login that may never come."""
    async with engine_context(tmp_path, web.Application(), load_rules(RULES)) as ctx:
        ended, unfollowed, calls = "1764770000.61", "1764770000.66", AmiCalls(ctx)
        calls.flush_s = 0.2
        for uid in (ended, unfollowed):
            ctx.recorder.record(NewCall(CallRow(uid, AGI_APP, "+79990001208", DID, ctx.now())))
        calls.begin(Handover(ended, "+79990001208", None, "agi-line", None, None, ctx.rules()))
        assert await ctx.recorder.flush(5.0)
        async with database_locked(tmp_path / "router.db"):
            calls.on_event({"Event": "Hangup", "Uniqueid": ended, "Linkedid": ended})
            assert ended in ctx.recorder.queued_calls()
            await calls.resync([], calls.mark())
            assert not await ctx.recorder.flush(0.05)  # it was behind throughout
        assert await outcome_steps(ctx, ended, unfollowed) == [["abandoned"], ["lost"]]
        misses = await ctx.store.calls.events_of([ended], ["miss"])
        assert [m.data["reason"] for m in misses[ended]] == ["abandoned_in_ivr"]


async def test_after_a_restart_a_journal_behind_still_lets_the_open_calls_be_settled(
    tmp_path: Path,
) -> None:
    """A restarted router logs in to AMI while its first writes wait for a slow database
    (the flush times out). Its journal holds nothing about the previous process's calls:
    the one whose channel is gone is closed, the live one is followed again and ends by
    its events, with its miss. (Left to the next login, which may never come, both stayed
    open: no outcome, no miss, no callback task.)"""
    async with engine_context(tmp_path, web.Application(), load_rules(RULES)) as ctx:
        gone, live, new = "1764770000.63", "1764770000.64", "1764770000.65"
        for uid in (gone, live):  # written by the previous process
            row = CallRow(uid, AGI_APP, "+79990001210", DID, ctx.now(), caller_e164="+79990001210")
            ctx.recorder.record(NewCall(row))
        assert await ctx.recorder.flush(5.0)
        calls = AmiCalls(ctx)  # the restarted router's
        calls.flush_s = 0.2
        async with database_locked(tmp_path / "router.db"):
            # a new caller's session: its row waits for the database
            calls.session_started(new)
            ctx.recorder.record(NewCall(CallRow(new, AGI_APP, "+79990001211", DID, ctx.now())))
            await calls.resync([{"Uniqueid": live, "Application": "Queue"}], calls.mark())
            assert len(calls) == 1  # followed again
            assert not await ctx.recorder.flush(0.05)  # it was behind throughout
            calls.on_event({"Event": "Hangup", "Uniqueid": live, "Linkedid": live})
            assert len(calls) == 0
        assert await outcome_steps(ctx, gone, live, new) == [["lost"], ["no_operator"], []]
        journeys = await ctx.store.calls.events_of([live], ["adopted", "miss"])
        assert [(e.kind, e.data.get("reason")) for e in journeys[live]] == [
            ("adopted", None),
            ("miss", "max_wait"),
        ]
        assert [t.number_e164 for t in await ctx.store.callbacks.list()] == ["+79990001210"]


@pytest.mark.parametrize("ends_by", ["its Hangup", "its session", "a session begun meanwhile"])
async def test_a_call_ended_while_the_resync_reads_is_not_adopted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ends_by: str
) -> None:
    """Events and sessions go on while the resync reads the database: a followed call
    whose Hangup is read then, or a call whose session ends then (a callback), has its
    outcome queued but not written. The row read as open, its channel in the list taken
    before, is not adopted: followed again it got a second outcome at the next login."""
    async with engine_context(tmp_path, web.Application(), load_rules(RULES)) as ctx:
        uid, calls = "1764770000.62", AmiCalls(ctx)
        ctx.recorder.record(NewCall(CallRow(uid, AGI_APP, "+79990001209", DID, ctx.now())))
        if ends_by == "its Hangup":
            calls.begin(Handover(uid, "+79990001209", None, "agi-line", None, None, ctx.rules()))
        elif ends_by == "its session":
            calls.session_started(uid)
        assert await ctx.recorder.flush(5.0)
        read = ctx.store.calls.open_calls

        async def ending_meanwhile(app: str) -> list[CallRow]:
            if ends_by == "a session begun meanwhile":
                calls.session_started(uid)  # (a session read late: its row long written)
            rows = await read(app)
            if ends_by == "its Hangup":
                calls.on_event({"Event": "Hangup", "Uniqueid": uid, "Linkedid": uid})
            else:  # as AgiCall does for a callback
                ctx.recorder_update(uid, phase="ended", outcome="callback", ended_at=ctx.now())
                calls.session_ended(uid)
            return rows

        monkeypatch.setattr(ctx.store.calls, "open_calls", ending_meanwhile)
        await calls.resync([{"Uniqueid": uid, "Application": "AGI"}], calls.mark())
        assert len(calls) == 0
        await calls.resync([], calls.mark())  # the next login
        assert len(calls) == 0
        assert await outcome_of(ctx, uid) == (
            "abandoned" if ends_by == "its Hangup" else "callback"
        )
