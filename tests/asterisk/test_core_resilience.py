"""Issue 2, real Asterisk + SIPp: no call is lost when the router or Asterisk restarts."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.rulesfile import write_rules

pytestmark = pytest.mark.asterisk

DID = "74952232222"
# Longer than a router's restart on a loaded machine (RouterProcess.START_S is its bound):
# a call that must still be there for the restarted router talks this long.
TALK_S = 30


def first_call_bridged(body: dict) -> bool:  # type: ignore[type-arg]
    return bool(body["calls"]) and body["calls"][0]["phase"] == "bridged"


async def test_sigkill_during_a_bridged_call_keeps_it_and_completes_the_journey(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]))
    await router.start()
    try:
        async with Phones({"op1001": Behaviour("answer", hold=60)}) as phones:
            # the call outlasts the restart, or there is nothing to adopt: the router's
            # imports alone took over 20 s on the 2-core machine at load average 10, where
            # 8 s of talk gave no 'adopted' step (the call was over, it seems, before the
            # restarted router was up)
            caller = asyncio.create_task(
                place_call("79990002001", DID, hangup_after=TALK_S, timeout=TALK_S + 30)
            )
            await router.wait_get("/api/calls?limit=1", first_call_bridged, 10)
            router.kill()
            ended, _ = await asyncio.wait({caller}, timeout=2)
            assert not ended, "the call must survive the router's death"
            await router.start()
            result = await caller
            await phones.wait_idle("op1001", timeout=10)
        assert result.ok, result.describe()
        assert result.duration >= TALK_S - 0.5  # it ran to its natural end
        report = phones.report()["op1001"]
        assert report.answered == 1 and report.completed == 1  # the operator got a clean BYE
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "answered" and call["operator_id"] == "op1001"
        kinds = [step["kind"] for step in call["journey"]]
        assert "adopted" in kinds and kinds[-1] == "outcome"
        channels = await sandbox_channels(sandbox)
        assert channels == [], f"leftover channels: {channels}"
    finally:
        await router.stop()


async def test_caller_hangs_up_while_the_router_is_dead(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]))
    await router.start()
    try:
        async with Phones({"op1001": Behaviour("answer", hold=60)}) as phones:
            caller = asyncio.create_task(place_call("79990002002", DID, hangup_after=4, timeout=30))
            await router.wait_get("/api/calls?limit=1", first_call_bridged, 10)
            router.kill()
            result = await caller  # the caller hangs up while nobody owns the call
            await router.start()  # reconcile: the operator leg is hung up, the journey closed
            await phones.wait_idle("op1001", timeout=10)
        assert result.ok, result.describe()
        assert phones.report()["op1001"].completed == 1
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "answered"
        assert "closed_on_reconnect" in [s["kind"] for s in call["journey"]]
        assert await sandbox_channels(sandbox) == []
    finally:
        await router.stop()


async def test_router_killed_as_a_phone_starts_ringing_a_caller_who_leaves_meanwhile_is_a_miss(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """With no menu the operator's phone rings 0.1 s after the call arrives, inside the
    journal's batch: the call's row is written before the answer, so a kill there, with
    the caller gone before the router is back, still leaves the call (lost) and its miss.
    (Before, nothing at all: no call in the API, no miss.)"""
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]), ring_timeout_s=20)
    await router.start()
    try:
        async with Phones({"op1001": Behaviour("answer", answer_after=15, hold=60)}) as phones:
            caller = asyncio.create_task(place_call("79990002007", DID, hangup_after=2, timeout=30))
            await phones.wait_for_invites("op1001", 1, timeout=10)
            router.kill()
            result = await caller  # the caller leaves while no router runs
            await router.start()  # reconcile closes the call; the ring is hung up
            await phones.wait_idle("op1001", timeout=10)
        assert result.ok, result.describe()
        assert phones.report()["op1001"].answered == 0
        [call] = await router.wait_calls(1)
        assert (call["outcome"], call["caller"]) == ("lost", "+79990002007")
        misses = [s["data"] for s in call["journey"] if s["kind"] == "miss"]
        assert [m["reason"] for m in misses] == ["abandoned"]
        assert await sandbox_channels(sandbox) == []
    finally:
        await router.stop()


async def test_router_not_running_the_dialplan_fallback_answers(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
        result = await place_call("79990002003", DID, hangup_after=2, timeout=20)
    assert result.ok, result.describe()
    assert phones.report()["op1001"].answered == 1


async def test_frozen_router_the_dialplan_fallback_answers(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]))
    await router.start()
    try:
        router.signal(signal.SIGSTOP)
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
            result = await place_call("79990002004", DID, hangup_after=2, timeout=20)
        assert result.ok, result.describe()
        assert phones.report()["op1001"].answered == 1
        router.signal(signal.SIGCONT)
        await router.wait_health(lambda h: h.get("ari_connected") is True, 10)
        # The router never owned that call: the fallback served it.
        assert await router.calls() == []
    finally:
        await router.stop()


async def test_asterisk_restart_router_reconnects_and_routes_the_next_call(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]))
    await router.start()
    try:
        await asyncio.to_thread(sandbox.restart_asterisk)
        await router.wait_health(lambda h: h.get("ari_connected") is True, 30)
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
            result = await place_call("79990002005", DID, hangup_after=2, timeout=20)
        assert result.ok, result.describe()
        assert phones.report()["op1001"].answered == 1
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "answered"  # routed by the router, not the fallback
    finally:
        await router.stop()


async def test_asterisk_killed_under_a_waiting_caller_is_a_pbx_failure_not_an_abandon(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """`kill -9` of Asterisk sends no BYE and no event: the router, reconnected to the new
    Asterisk, ends the caller who was waiting (their operator's phone ringing) as cut by
    the PBX, `failed` with one `no_operator` miss, as `core restart` does; not abandoned."""
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]), ring_timeout_s=20)
    await router.start()
    try:
        async with Phones({"op1001": Behaviour("answer", answer_after=40, hold=60)}) as phones:
            # The caller's BYE meets a dead Asterisk: SIPp gives up by its timeout.
            caller = asyncio.create_task(place_call("79990002008", DID, hangup_after=3, timeout=20))
            await phones.wait_for_invites("op1001", 1, timeout=10)
            await asyncio.to_thread(sandbox.crash)
            await asyncio.to_thread(sandbox.up)
            await router.wait_health(lambda h: h.get("ari_connected") is True, 60)
            [call] = await router.wait_calls(1)
            await caller
        assert call["outcome"] == "failed"
        kinds = [s["kind"] for s in call["journey"]]
        assert "asterisk_shutdown" in kinds or "closed_on_reconnect" in kinds
        misses = [s["data"]["reason"] for s in call["journey"] if s["kind"] == "miss"]
        assert misses == ["no_operator"]
    finally:
        await router.stop()


async def sandbox_channels(sandbox) -> list[str]:  # type: ignore[no-untyped-def]
    """Channels and bridges left in Asterisk, after giving hang-ups a moment to finish."""
    from sip_test_harness.probe import ari_get

    left: list[str] = []
    for _ in range(30):
        _, channels = await asyncio.to_thread(ari_get, sandbox.ari_access, "/channels")
        _, bridges = await asyncio.to_thread(ari_get, sandbox.ari_access, "/bridges")
        left = [c["name"] for c in channels] + [f"bridge {b['id']}" for b in bridges]
        if not left:
            return []
        await asyncio.sleep(0.2)
    return left


async def test_router_killed_while_an_operator_rings_the_ring_goes_on(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The restarted router keeps the ring the dead one started: the operator who picks
    up is connected, and nobody else is rung (issue 13 item 2: a kill while ringing)."""
    router = RouterProcess(
        tmp_path, rules=write_rules(tmp_path, ["op1001", "op1002"]), ring_timeout_s=20
    )
    await router.start()
    try:
        behaviours = {
            "op1001": Behaviour("answer", answer_after=5, hold=60),
            "op1002": Behaviour("answer", hold=60),
        }
        async with Phones(behaviours) as phones:
            caller = asyncio.create_task(
                place_call("79990002006", DID, hangup_after=12, timeout=40)
            )
            await phones.wait_for_invites("op1001", 1, timeout=10)
            router.kill()
            await router.start()  # reconcile: op1001's ring goes on for the adopted caller
            result = await caller
            await phones.wait_idle("op1001", timeout=10)
        assert result.ok, result.describe()
        report = phones.report()
        assert report["op1001"].invites == 1 and report["op1001"].answered == 1
        assert report["op1002"].invites == 0
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "answered" and call["operator_id"] == "op1001"
        assert call["tried_operators"] == ["op1001"]
        [adopted] = [s for s in call["journey"] if s["kind"] == "adopted"]
        assert adopted["data"]["state"] == "waiting"
        # (The dead process's own `ringing` step may not have reached the database.)
        rings = [s["data"] for s in call["journey"] if s["kind"] == "ringing"]
        assert rings[-1]["adopted"] is True and rings[-1]["operator"] == "op1001"
    finally:
        await router.stop()
