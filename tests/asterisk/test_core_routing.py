"""Issue 2, real Asterisk + SIPp: a call travels from the trunk to an operator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sip_test_harness.phones import wait_endpoint_state
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.rulesfile import write_rules

pytestmark = pytest.mark.asterisk

DID = "74952232222"


def kinds(call: dict) -> list[str]:  # type: ignore[type-arg]
    return [step["kind"] for step in call["journey"]]


async def test_unknown_caller_reaches_an_available_operator(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # `python -m router run` as an admin starts it: the other sandbox tests fork their
    # routers from a process that imported the router once (sip_test_harness/router_fork.py)
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]), fork=False)
    await router.start()
    try:
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
            result = await place_call("79990001122", DID, hangup_after=2, timeout=20)
        assert result.ok, result.describe()
        assert phones.report()["op1001"].answered == 1
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "answered"
        assert call["operator_id"] == "op1001"
        assert call["caller"] == "+79990001122"
        assert call["patient_id"] is None
        journey = [k for k in kinds(call) if k in ("arrived", "identified", "waiting", "ringing")]
        assert journey[:4] == ["arrived", "identified", "waiting", "ringing"]
        assert "connected" in kinds(call)
    finally:
        await router.stop()


async def test_known_patient_reaches_the_assigned_operator(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001", "op1002"]))
    csv = tmp_path / "patients.csv"
    csv.write_text(
        "patient_id,name,phones,assigned_operator\n"
        "p-1,Anna Petrova,8 916 123-45-67;+74951112233,op1002\n",
        encoding="utf-8",
    )
    await router.import_patients(csv)
    await router.start()
    try:
        behaviours = {
            "op1001": Behaviour("answer", hold=30),
            "op1002": Behaviour("answer", hold=30),
        }
        async with Phones(behaviours) as phones:
            result = await place_call("+79161234567", DID, hangup_after=2, timeout=20)
        assert result.ok, result.describe()
        report = phones.report()
        assert report["op1002"].answered == 1
        assert report["op1001"].invites == 0
        [call] = await router.wait_calls(1)
        assert (call["outcome"], call["operator_id"], call["patient_id"]) == (
            "answered",
            "op1002",
            "p-1",
        )
    finally:
        await router.stop()


async def test_no_answer_passes_to_the_next_operator_and_never_rerings(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    router = RouterProcess(
        tmp_path, rules=write_rules(tmp_path, ["op1001", "op1002"]), ring_timeout_s=5
    )
    await router.start()
    try:
        behaviours = {"op1001": Behaviour("never"), "op1002": Behaviour("answer", hold=30)}
        async with Phones(behaviours) as phones:
            result = await place_call("79990001123", DID, hangup_after=9, timeout=30)
        assert result.ok, result.describe()
        report = phones.report()
        assert report["op1001"].invites == 1  # rung once, never again for this call
        assert report["op1002"].answered == 1
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "answered" and call["operator_id"] == "op1002"
        assert call["tried_operators"] == ["op1001", "op1002"]
        status, detail = await router.request("GET", f"/api/calls/{call['id']}")
        assert status == 200
        results = [(a["operator"], a["result"]) for a in detail["ring_attempts"]]
        assert results == [("op1001", "no_answer"), ("op1002", "answered")]
    finally:
        await router.stop()


async def test_caller_hangs_up_while_operator_rings(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]), ring_timeout_s=15)
    await router.start()
    try:
        async with Phones({"op1001": Behaviour("never")}) as phones:
            # The router answers callers at once; the caller hangs up 2 s into the wait.
            result = await place_call("79990001124", DID, hangup_after=2, timeout=20)
            # The operator's phone must see the CANCEL long before its ring timeout.
            await phones.wait_idle("op1001", timeout=5)
        assert result.ok, result.describe()
        report = phones.report()
        assert report["op1001"].invites == 1 and report["op1001"].cancelled == 1
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "abandoned"
        assert call["operator_id"] is None
    finally:
        await router.stop()


async def test_busy_and_unreachable_operators_are_skipped_at_once(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # op1001 has no phone running at all (unreachable); op1002 answers 486 Busy.
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001", "op1002", "op1003"]))
    # A phone stopped by an earlier test takes a few qualify rounds to be seen as gone.
    await wait_endpoint_state(sandbox.ari_access, "op1001", "offline", timeout=15)
    await router.start()
    try:
        behaviours = {"op1002": Behaviour("busy"), "op1003": Behaviour("answer", hold=30)}
        async with Phones(behaviours) as phones:
            loop = asyncio.get_running_loop()
            started = loop.time()
            result = await place_call("79990001125", DID, hangup_after=2, timeout=20)
            elapsed = loop.time() - started
        assert result.ok, result.describe()
        assert phones.report()["op1003"].answered == 1
        assert elapsed < 10  # neither the busy nor the unreachable phone cost a ring timeout
        [call] = await router.wait_calls(1)
        assert call["operator_id"] == "op1003"
        # op1001's phone could not be dialled: skipped, not tried (docs/operations.md).
        assert call["tried_operators"] == ["op1002", "op1003"]
        skipped = {s["data"]["operator"] for s in call["journey"] if s["kind"] == "skipped"}
        assert skipped == {"op1001"}
    finally:
        await router.stop()
