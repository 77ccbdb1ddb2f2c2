"""Issue 18, real Asterisk + SIPp: AGI mode, the PBX keeps its calls in the dialplan and
app_queue while the router decides over FastAGI (dialplan/clinic-router-agi.conf, the
sandbox's AGI line from sip_test_harness/sandbox_agi.py)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from router.config.rules import load_rules
from sip_test_harness.instance import current
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox_agi import AGI_DID, AGI_PORT, AGI_TIMEOUT_S, apply_queues, unpause_all
from sip_test_harness.sipp import Behaviour, Phones, place_call

pytestmark = pytest.mark.asterisk

RULES = Path(__file__).resolve().parents[1] / "data" / "agi" / "rules.yaml"
HOST = current().host  # this sandbox instance's loopback address (instance.py)
AGI_SETTINGS = f"agi:\n  enabled: true\n  host: {HOST}\n  port: {AGI_PORT}\n  ami_host: {HOST}\n"
PATIENTS = (
    "patient_id,name,phones,assigned_operator,tags\n"
    "p-1,Anna Petrova,+79161234567,op1004,\n"
    "p-2,Boris Ivanov,+79161110002,,dms\n"
)


@pytest.fixture
async def agi_router(sandbox, tmp_path: Path) -> AsyncIterator[RouterProcess]:  # type: ignore[no-untyped-def]
    apply_queues(sandbox, load_rules(RULES))
    router = RouterProcess(tmp_path, rules=RULES, extra_settings=AGI_SETTINGS)
    csv = tmp_path / "patients.csv"
    csv.write_text(PATIENTS, encoding="utf-8")
    await router.import_patients(csv)
    try:
        await router.start()  # stopped even when it never becomes healthy (a loaded box)
        yield router
    finally:
        await router.stop()
        sandbox.hangup_all()
        unpause_all(sandbox, load_rules(RULES))  # the router's pauses outlive it in app_queue


async def agi_journey(router: RouterProcess) -> dict[str, Any]:
    """The AGI-mode call's journey once its decision is written (one per test)."""

    def decided(call: dict[str, Any]) -> bool:
        return any(step["kind"] == "agi_decision" for step in call["journey"])

    body = await router.wait_get(
        "/api/calls?limit=10", lambda b: any(decided(c) for c in b["calls"]), 10
    )
    [call] = [c for c in body["calls"] if decided(c)]
    assert call["did"] == AGI_DID
    return dict(call)


def decision(call: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in call["journey"] if s["kind"] == "agi_decision"]
    return dict(step["data"])


async def test_a_patient_with_a_manager_reaches_the_manager(agi_router) -> None:  # type: ignore[no-untyped-def]
    phones = {"op1004": Behaviour("answer", hold=30), "op1001": Behaviour("answer", hold=30)}
    async with Phones(phones) as running:
        result = await place_call("+79161234567", AGI_DID, hangup_after=8, timeout=30)
    assert result.ok and result.answered, result.describe()
    report = running.report()
    assert report["op1004"].answered == 1 and report["op1001"].invites == 0
    call = await agi_journey(agi_router)
    assert call["patient_id"] == "p-1"
    assert decision(call)["target"] == "operator" and decision(call)["operator"] == "op1004"
    assert not any(s["kind"] == "menu" for s in call["journey"])


async def test_a_dms_patient_skips_the_menu(agi_router) -> None:  # type: ignore[no-untyped-def]
    phones = {"op1003": Behaviour("answer", hold=30), "op1001": Behaviour("answer", hold=30)}
    async with Phones(phones) as running:
        started = time.monotonic()
        result = await place_call("89161110002", AGI_DID, hangup_after=8, timeout=30)
    assert result.ok and result.answered, result.describe()
    assert running.report()["op1003"].answered == 1
    assert running.report()["op1001"].invites == 0
    call = await agi_journey(agi_router)
    [menu] = [s["data"] for s in call["journey"] if s["kind"] == "menu"]
    assert (menu["action"], menu["chosen"]) == ("auto", "3")
    assert decision(call)["queue"] == "clinic-dms"
    assert time.monotonic() - started < 15


async def test_an_unknown_callers_key_picks_the_skill_queue(agi_router) -> None:  # type: ignore[no-untyped-def]
    phones = {"op1003": Behaviour("answer", hold=30), "op1001": Behaviour("answer", hold=30)}
    async with Phones(phones) as running:
        result = await place_call(
            "79990001122", AGI_DID, dtmf="3", dtmf_delay=1.5, hangup_after=8, timeout=40
        )
    assert result.ok and result.answered, result.describe()
    assert running.report()["op1003"].answered == 1
    assert running.report()["op1001"].invites == 0
    call = await agi_journey(agi_router)
    [menu] = [s["data"] for s in call["journey"] if s["kind"] == "menu"]
    assert (menu["action"], menu["pressed"], menu["chosen"]) == ("play", ["3"], "3")
    assert decision(call)["queue"] == "clinic-dms"


async def test_level_2_answers_only_after_the_relaxation_step(agi_router) -> None:  # type: ignore[no-untyped-def]
    # op1001 (paid 4) is busy; op1002 (paid 2) may take the call only from the 8 s step
    phones = {"op1001": Behaviour("busy"), "op1002": Behaviour("answer", hold=30)}
    async with Phones(phones) as running:
        result = await place_call(
            "79990001123", AGI_DID, dtmf="1", dtmf_delay=1.5, hangup_after=20, timeout=60
        )
    assert result.ok and result.answered, result.describe()
    report = running.report()
    assert report["op1002"].answered == 1 and report["op1001"].invites >= 1
    first_try = report["op1001"].calls[0].invited_at
    level_2 = report["op1002"].calls[0].invited_at
    assert level_2 - first_try >= 7.0, (first_try, level_2)
    assert decision(await agi_journey(agi_router))["queue"] == "clinic-paid"


async def test_a_bare_connect_and_a_malformed_header_do_not_stall_the_router(agi_router) -> None:  # type: ignore[no-untyped-def]
    silent = await asyncio.open_connection(HOST, AGI_PORT)
    _, bare = await asyncio.open_connection(HOST, AGI_PORT)
    bare.close()
    junk_reader, junk = await asyncio.open_connection(HOST, AGI_PORT)
    junk.write(b"agi_channel PJSIP/x\n\x00\xff garbage\n\n")
    await junk.drain()
    try:
        async with Phones({"op1004": Behaviour("answer", hold=30)}) as running:
            started = time.monotonic()
            result = await place_call("+79161234567", AGI_DID, hangup_after=8, timeout=30)
        assert result.ok and result.answered, result.describe()
        assert running.report()["op1004"].answered == 1
        assert (await agi_router.get("/health"))["ari_connected"] is True
        assert await asyncio.wait_for(junk_reader.read(), 5) == b""  # refused, closed
        assert result.duration < 10 and time.monotonic() - started < 15
    finally:
        silent[1].close()
        junk.close()


async def test_router_down_the_call_reaches_the_plain_queue_at_once(sandbox) -> None:  # type: ignore[no-untyped-def]
    # nothing listens on the AGI port: AGI() fails at once, [clinic-router-fallback] serves
    async with Phones({"op1001": Behaviour("answer", hold=30)}) as running:
        started = time.time()
        result = await place_call("79990001124", AGI_DID, hangup_after=8, timeout=30)
    sandbox.hangup_all()
    assert result.ok and result.answered, result.describe()
    call = running.report()["op1001"].calls[0]
    assert call.answered_at is not None
    assert running.report()["op1001"].calls[0].invited_at - started < 3


async def test_router_frozen_the_call_reaches_the_plain_queue_after_the_timeout(
    agi_router: RouterProcess,
) -> None:
    agi_router.signal(signal.SIGSTOP)  # accepts TCP (the kernel does), answers nothing
    try:
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as running:
            started = time.time()
            result = await place_call("79990001125", AGI_DID, hangup_after=14, timeout=40)
        assert result.ok and result.answered, result.describe()
        assert running.report()["op1001"].answered == 1
        # the router's silence costs the caller CR_AGI_TIMEOUT, no more
        rang_after = running.report()["op1001"].calls[0].invited_at - started
        assert AGI_TIMEOUT_S - 0.5 <= rang_after < AGI_TIMEOUT_S + 3, rang_after
    finally:
        agi_router.signal(signal.SIGCONT)


async def test_abandon_while_queued_is_one_task_and_a_repeat_call_merges(agi_router) -> None:  # type: ignore[no-untyped-def]
    number = "+79990003011"

    def open_tasks(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in body["callbacks"] if t["number"] == number]

    # op1001 (paid 4) rings and never answers: the caller waits in clinic-paid, gives up
    async with Phones({"op1001": Behaviour("never")}):
        for count in (1, 2):
            result = await place_call(
                number[1:], AGI_DID, dtmf="1", dtmf_delay=1.5, hangup_after=9, timeout=40
            )
            assert result.ok and result.answered, result.describe()
            body = await agi_router.wait_get(
                "/api/callbacks?limit=200",
                lambda b, n=count: any(t["miss_count"] == n for t in open_tasks(b)),
                10,
            )
            [task] = open_tasks(body)
            assert task["reasons"][0] == "abandoned"
    calls = await agi_router.wait_calls(2, timeout=10)
    outcomes = [c["outcome"] for c in calls if c["caller"] == number]
    assert outcomes == ["abandoned", "abandoned"]


async def test_an_answered_queue_call_has_its_whole_journey(agi_router) -> None:  # type: ignore[no-untyped-def]
    async with Phones({"op1003": Behaviour("answer", hold=3)}) as running:
        result = await place_call("79990003012", AGI_DID, dtmf="3", dtmf_delay=1.5, timeout=40)
    assert result.ok and result.answered, result.describe()
    assert running.report()["op1003"].answered == 1
    [call] = await agi_router.wait_calls(1, timeout=10)
    assert (call["outcome"], call["operator_id"]) == ("answered", "op1003")
    kinds = [s["kind"] for s in call["journey"]]
    assert kinds[-4:] == ["waiting", "ringing", "connected", "outcome"]
    assert kinds[0] == "arrived" and "agi_decision" in kinds
