"""The FastAGI server and AGI-mode decisions, against Asterisk's side of the wire.

Asterisk's half is `agi_support.agi_call`: the header block, then one reply per command;
the router's half is the real server, call handler, SQLite journal and callback ledger.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from agi_support import agi_call, header, menu_call
from aiohttp import web
from engine_support import engine_context

from router.agi.call import agi_routes
from router.agi.channel import AgiChannel
from router.agi.decision import AGI_APP
from router.agi.server import FastAgiServer
from router.ami.records import AmiCalls
from router.config.rules import load_rules
from router.engine.context import CallContext
from router.storage.models import PatientRecord

RULES = Path(__file__).resolve().parents[1] / "data" / "agi" / "rules.yaml"
DID = "74957770000"


@pytest.fixture
async def agi(tmp_path: Path) -> AsyncIterator[tuple[FastAgiServer, CallContext]]:
    rules = load_rules(RULES)
    async with engine_context(tmp_path, web.Application(), rules) as ctx:
        await ctx.store.patients.upsert(
            [
                PatientRecord("p-1", "Anna", ("+79161234567",), assigned_operator_id="op1004"),
                PatientRecord("p-2", "Boris", ("+79161110002",), tags=("dms",)),
            ]
        )
        server = FastAgiServer(agi_routes(ctx), "127.0.0.1", 0, header_timeout_s=0.5)
        await server.start()
        try:
            yield server, ctx
        finally:
            await server.close()


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll a condition with a deadline."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """The router closed the connection (unread bytes of ours make it a reset)."""
    try:
        return await asyncio.wait_for(reader.read(), 2) == b""
    except ConnectionResetError:
        return True


async def journey(ctx: CallContext, call_id: str) -> list[str]:
    assert await ctx.recorder.flush(5.0)
    events = (await ctx.store.calls.events_of([call_id]))[call_id]
    return [e.kind for e in events]


async def test_a_patient_with_a_manager_gets_the_manager_without_a_menu(agi) -> None:  # type: ignore[no-untyped-def]
    server, ctx = agi
    session = await agi_call(server.port, "+79161234567", DID)
    assert session.played() == []
    values = session.variables
    assert (values["CR_TARGET"], values["CR_OPERATOR"], values["CR_OPERATOR_WAIT"]) == (
        "operator",
        "PJSIP/op1004",
        "20",
    )
    assert values["CR_QUEUE"] == "clinic-paid" and values["CR_PATIENT"] == "p-1"
    assert values["CHANNEL(language)"] == "ru"
    assert await journey(ctx, "1764770000.1") == ["arrived", "identified", "route", "agi_decision"]
    call = await ctx.store.calls.get("1764770000.1")
    assert call is not None and call.app == AGI_APP and call.patient_id == "p-1"
    assert call.line == "agi-line" and call.caller_e164 == "+79161234567"


async def test_a_dms_patient_skips_the_menu(agi) -> None:  # type: ignore[no-untyped-def]
    server, ctx = agi
    session = await agi_call(server.port, "89161110002", DID)
    assert session.played() == []
    assert (session.variables["CR_TARGET"], session.variables["CR_QUEUE"]) == (
        "queue",
        "clinic-dms",
    )
    assert await ctx.recorder.flush(5.0)
    events = (await ctx.store.calls.events_of(["1764770000.1"], ["menu"]))["1764770000.1"]
    assert [(e.data["action"], e.data["chosen"]) for e in events] == [("auto", "3")]


async def test_an_unknown_callers_key_during_the_prompt_picks_the_queue(agi) -> None:  # type: ignore[no-untyped-def]
    server, ctx = agi
    session = await agi_call(server.port, "+79990001122", DID, keys=["3"])
    # barge-in: the key stops the prompt; nothing more is played or waited for
    assert session.played() == ['STREAM FILE "beep" "0123456789*#"']
    assert not any(c.startswith("WAIT FOR DIGIT") for c in session.commands)
    assert (session.variables["CR_TARGET"], session.variables["CR_QUEUE"]) == (
        "queue",
        "clinic-dms",
    )
    # the dialplan's deadline is pushed forward before the menu plays
    assert session.commands.index('SET VARIABLE "TIMEOUT(absolute)" "63"') < session.commands.index(
        session.played()[0]
    )
    assert "menu" in await journey(ctx, "1764770000.1")


async def test_paid_relaxes_in_app_queue_from_penalty_zero(agi) -> None:  # type: ignore[no-untyped-def]
    server, _ = agi
    session = await agi_call(server.port, "+79990001122", DID, keys=[None, "1"])
    values = session.variables
    assert (values["CR_QUEUE"], values["QUEUE_MAX_PENALTY"], values["QUEUE_PRIO"]) == (
        "clinic-paid",
        "0",
        "5",
    )


async def test_no_key_twice_takes_the_default(agi) -> None:  # type: ignore[no-untyped-def]
    server, _ = agi
    session = await agi_call(server.port, "anonymous", DID)
    assert [c.split()[0] for c in session.commands if c.startswith(("STREAM", "WAIT"))] == [
        "STREAM",
        "WAIT",
        "STREAM",
        "WAIT",
    ]
    assert session.variables["CR_QUEUE"] == "clinic-paid"


async def test_key_9_is_a_callback_task_before_the_promise(agi) -> None:  # type: ignore[no-untyped-def]
    server, ctx = agi
    session = await agi_call(server.port, "+79990001199", DID, keys=["9"])
    assert (session.variables["CR_TARGET"], session.variables["CR_MESSAGE"]) == (
        "callback",
        "vm-goodbye",
    )
    assert await ctx.recorder.flush(5.0)
    [task] = await ctx.store.callbacks.list()
    assert task.number_e164 == "+79990001199"
    call = await ctx.store.calls.get("1764770000.1")
    assert call is not None and call.outcome == "callback" and call.ended_at is not None


async def test_a_caller_hanging_up_in_the_menu_is_one_miss(agi) -> None:  # type: ignore[no-untyped-def]
    server, ctx = agi
    session = await agi_call(server.port, "+79990001133", DID, hangup_after=4)
    assert "CR_TARGET" not in session.variables
    kinds = await journey(ctx, "1764770000.1")
    assert kinds[-3:] == ["abandoned", "outcome", "miss"]
    [miss] = (await ctx.store.calls.events_of(["1764770000.1"], ["miss"]))["1764770000.1"]
    # in the ledger; no task: hung up within min_abandon_s (a misdial, as in ARI mode)
    assert miss.data["reason"] == "abandoned_in_ivr" and miss.data["task"] is False
    call = await ctx.store.calls.get("1764770000.1")
    assert call is not None and call.outcome == "abandoned"


async def test_a_bare_connect_and_a_bad_header_do_not_stall_the_router(agi) -> None:  # type: ignore[no-untyped-def]
    server, _ = agi
    loop = asyncio.get_running_loop()
    # a connection that says nothing and stays open, one that closes at once, and garbage
    silent = await asyncio.open_connection("127.0.0.1", server.port)
    _, bare = await asyncio.open_connection("127.0.0.1", server.port)
    bare.close()
    reader, junk = await asyncio.open_connection("127.0.0.1", server.port)
    junk.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\n\n")
    # meanwhile a real call is decided at once
    started = loop.time()
    session = await agi_call(server.port, "+79161234567", DID)
    assert session.variables["CR_TARGET"] == "operator"
    assert loop.time() - started < 0.4
    assert await reader.read() == b""  # the junk connection was closed by the router
    await until(lambda: server.refused >= 3)  # the silent one after its header timeout
    assert await silent[0].read() == b""
    silent[1].close()
    junk.close()


async def test_a_session_read_after_the_channel_moved_on_is_not_a_call(agi) -> None:  # type: ignore[no-untyped-def]
    server, ctx = agi
    session = await agi_call(server.port, "+79990001166", DID, hangup_after=0)
    assert session.commands == ['SET VARIABLE "CR_CALL" "1764770000.1"']
    assert await ctx.recorder.flush(5.0)
    assert await ctx.store.calls.get("1764770000.1") is None


async def test_past_max_sessions_a_connection_is_closed_at_once(tmp_path: Path) -> None:
    async def hold(channel: AgiChannel) -> None:
        await asyncio.Event().wait()  # a session that never ends (a caller in a long menu)

    server = FastAgiServer({"route": hold}, "127.0.0.1", 0, max_sessions=1)
    await server.start()
    try:
        first = await asyncio.open_connection("127.0.0.1", server.port)
        first[1].write(header("+79990001188", DID))
        await until(lambda: server.sessions == 1)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(header("+79990001199", DID, "1764770000.2"))
        assert await closed_by_peer(reader)
        assert server.refused == 1 and server.sessions == 1
        first[1].close()
        writer.close()
    finally:
        await server.close()


async def test_the_decision_comes_back_in_one_round_trip(agi) -> None:  # type: ignore[no-untyped-def]
    server, _ = agi
    session = await agi_call(server.port, "+79161234567", DID)
    # the proof the channel still waits, then the whole decision in one EXEC MSet
    assert session.commands[0] == 'SET VARIABLE "CR_CALL" "1764770000.1"'
    assert len(session.commands) == 2 and session.commands[1].startswith('EXEC "MSet" ')
    assert "CR_CALL=" not in session.commands[1]  # set once
    assert session.variables["CR_TARGET"] == "operator"
    assert session.variables["CHANNEL(language)"] == "ru"


async def test_a_value_mset_would_parse_is_sent_on_its_own(agi) -> None:  # type: ignore[no-untyped-def]
    """A patient id from a CRM is data: commas, `=`, quotes, `$[...]`, `|` must not
    become more variables or a dialplan expression inside MSet's argument."""
    server, ctx = agi
    nasty = 'p-9,CR_TARGET=message|"${SHELL(id)}$[1+1]'
    await ctx.store.patients.upsert([PatientRecord(nasty, "Eve", ("+79161110009",))])
    session = await agi_call(server.port, "+79161110009", DID, keys=["1"])
    packs = [c for c in session.commands if c.startswith("EXEC")]
    assert len(packs) == 1 and "p-9" not in packs[0]
    assert session.variables["CR_PATIENT"] == nasty  # by SET VARIABLE, quoted
    assert session.variables["CR_TARGET"] == "queue"


async def test_without_mset_the_variables_go_one_by_one(agi) -> None:  # type: ignore[no-untyped-def]
    """An Asterisk without app MSet answers EXEC with result=-2: nothing is lost."""
    server, _ = agi
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(header("+79161234567", DID))
    variables: dict[str, str] = {}
    execs = 0
    while line := (await reader.readline()).decode():
        if line.startswith("EXEC"):
            execs += 1
            writer.write(b"200 result=-2\n")
            continue
        if line.startswith("SET VARIABLE"):
            name, value = shlex.split(line)[2:4]
            variables[name] = value
        writer.write(b"200 result=1\n")
    writer.close()
    assert execs == 1
    assert variables["CR_TARGET"] == "operator" and variables["CR_OPERATOR"] == "PJSIP/op1004"
    assert variables["CHANNEL(language)"] == "ru" and variables["CR_PATIENT"] == "p-1"


async def test_a_channel_gone_before_the_decision_is_not_left_open(agi) -> None:  # type: ignore[no-untyped-def]
    """The decision's one command finds the channel gone (the caller left, or the
    dialplan's timeout sent the call on): the journey ends, as a hangup while deciding."""
    server, ctx = agi
    session = await agi_call(server.port, "+79161234567", DID, hangup_after=1)
    assert len(session.commands) == 2 and session.commands[1].startswith("EXEC")
    assert await journey(ctx, "1764770000.1") == [
        "arrived",
        "identified",
        "route",
        "abandoned",
        "outcome",
        "miss",
    ]
    call = await ctx.store.calls.get("1764770000.1")
    assert call is not None and call.outcome == "abandoned"


async def test_with_ami_down_a_caller_hanging_up_in_the_menu_is_still_one_miss(agi) -> None:  # type: ignore[no-untyped-def]
    """AMI was up when the session began following the call, and is down when the caller
    hangs up in the menu: no Hangup event will come, so the session records the hang-up
    itself (and the follower lets the call go) instead of leaving the call open."""
    _, ctx = agi
    follower = AmiCalls(ctx)
    answers = iter([True])  # connected at the session's start, then not
    follower.connected = lambda: next(answers, False)
    server = FastAgiServer(agi_routes(ctx, follower), "127.0.0.1", 0)
    await server.start()
    try:
        await agi_call(server.port, "+79990001133", DID, hangup_after=4)
    finally:
        await server.close()
    kinds = await journey(ctx, "1764770000.1")
    assert kinds[-3:] == ["abandoned", "outcome", "miss"] and len(follower) == 0
    [miss] = (await ctx.store.calls.events_of(["1764770000.1"], ["miss"]))["1764770000.1"]
    assert miss.data["reason"] == "abandoned_in_ivr"
    call = await ctx.store.calls.get("1764770000.1")
    assert call is not None and call.outcome == "abandoned"


@pytest.mark.parametrize("still_there", [False, True])
async def test_a_session_read_after_its_hangup_was_dropped_is_closed_by_a_channel_check(  # type: ignore[no-untyped-def]
    agi, still_there: bool
) -> None:
    """The caller's Hangup was read so long before the session that it was no longer kept
    (`Recent`), and the session's first command finds the channel gone. Asterisk is asked
    for its channels: gone, the call ends as a hang-up in the IVR with its miss (instead
    of staying open until the next AMI login); still there (gone on in the plain queue),
    the call stays followed, for its channel's next events."""
    _, ctx = agi
    uid, now = "1764770000.21", [0.0]
    follower = AmiCalls(ctx, clock=lambda: now[0])
    asked: list[int] = []

    async def channels() -> list[dict[str, str]]:
        asked.append(1)
        return [{"Uniqueid": uid}] if still_there else []

    follower.channels, follower.check_after_s = channels, 0.05
    follower.on_event({"Event": "Hangup", "Uniqueid": uid, "Linkedid": uid})
    now[0] = 40.0  # past RECENT_S: the next event about any channel drops it
    follower.on_event({"Event": "Newchannel", "Uniqueid": "1764770000.22"})
    server = FastAgiServer(agi_routes(ctx, follower), "127.0.0.1", 0)
    await server.start()
    try:
        session = await agi_call(server.port, "+79990001177", DID, hangup_after=0, uniqueid=uid)
    finally:
        await server.close()
    assert len(session.commands) == 1
    await until(lambda: asked == [1])
    await asyncio.sleep(0.05)
    call = await ctx.store.calls.get(uid) if await ctx.recorder.flush(5.0) else None
    assert call is not None
    if still_there:
        assert len(follower) == 1 and call.outcome is None
        follower.close()
        return
    assert len(follower) == 0 and call.outcome == "abandoned"
    kinds = await journey(ctx, uid)
    assert kinds == ["arrived", "hangup_unseen", "abandoned", "miss", "outcome"]
    [miss] = (await ctx.store.calls.events_of([uid], ["miss"]))[uid]
    assert miss.data["reason"] == "abandoned_in_ivr"


async def ami_back_in_the_menu(ctx: CallContext, uid: str, key: str | None) -> AmiCalls:
    """A session begun while AMI is down; AMI logs in again while the caller is in the
    menu (its resync lists the channel, the call's row written long before); then the
    caller presses `key`, or hangs up (None). The follower reads the channel's events
    after."""
    follower, up = AmiCalls(ctx), [False]
    follower.connected = lambda: up[0]
    server = FastAgiServer(agi_routes(ctx, follower), "127.0.0.1", 0)
    await server.start()

    async def login() -> bool:
        assert await ctx.recorder.flush(5.0)
        up[0] = True
        await follower.resync([{"Uniqueid": uid, "Application": "AGI"}], follower.mark())
        return key is None

    try:
        await menu_call(server.port, uid, key, ("STREAM FILE",), login)
    finally:
        await server.close()
    return follower


async def outcomes_and_misses(ctx: CallContext, uid: str) -> tuple[list[object], list[object]]:
    assert await ctx.recorder.flush(5.0)
    steps = (await ctx.store.calls.events_of([uid], ["outcome", "miss"]))[uid]
    outcomes = [e.data["outcome"] for e in steps if e.kind == "outcome"]
    return outcomes, [e.data["reason"] for e in steps if e.kind == "miss"]


@pytest.mark.parametrize(
    ("key", "outcome", "miss"),
    [("9", "callback", "requested"), (None, "abandoned", "abandoned_in_ivr")],
)
async def test_a_session_running_when_ami_comes_back_is_not_adopted_too(  # type: ignore[no-untyped-def]
    agi, key: str | None, outcome: str, miss: str
) -> None:
    """The session settles its call (a callback, or a hang-up in the menu) as without AMI;
    the resync at AMI's login does not adopt it as well, so the caller's Hangup read
    after adds no second outcome and miss."""
    _, ctx = agi
    uid = "1764770000.31"
    follower = await ami_back_in_the_menu(ctx, uid, key)
    follower.on_event({"Event": "Hangup", "Uniqueid": uid, "Linkedid": uid, "Cause": "16"})
    assert await outcomes_and_misses(ctx, uid) == ([outcome], [miss])
    assert len(follower) == 0


async def test_a_queue_decision_after_ami_came_back_is_followed_to_its_outcome(agi) -> None:  # type: ignore[no-untyped-def]
    """Left to its session by the resync, a call decided for a queue is handed to the
    follower when its decision reached the channel: its queue's events give its outcome
    (it would stay open until the next AMI login)."""
    _, ctx = agi
    uid = "1764770000.32"
    follower = await ami_back_in_the_menu(ctx, uid, "1")
    assert len(follower) == 1
    follower.on_event({"Event": "QueueCallerJoin", "Uniqueid": uid, "Queue": "clinic-paid"})
    follower.on_event(
        {"Event": "VarSet", "Uniqueid": uid, "Variable": "QUEUESTATUS", "Value": "TIMEOUT"}
    )
    follower.on_event({"Event": "Hangup", "Uniqueid": uid, "Linkedid": uid, "Cause": "16"})
    assert await outcomes_and_misses(ctx, uid) == (["no_operator"], ["max_wait"])
    kinds = await journey(ctx, uid)
    assert "agi_late" not in kinds and kinds.count("waiting") == 1
