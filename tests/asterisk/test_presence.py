"""Operator presence on the real sandbox: ring-no-answer pauses, wrap-up, manual pause."""

from __future__ import annotations

from pathlib import Path

import pytest

from sip_test_harness.phones import phone_port
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.rulesfile import write_rules

pytestmark = pytest.mark.asterisk

DID = "74952232222"


async def operator(router: RouterProcess, op_id: str) -> dict:  # type: ignore[type-arg]
    body = await router.get("/api/operators")
    return next(o for o in body["operators"] if o["id"] == op_id)


async def test_operator_who_lets_calls_ring_out_is_paused(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(
        tmp_path,
        rules=write_rules(tmp_path, ["op1001", "op1002"]),
        ring_timeout_s=5,
        pause_after_no_answers=2,
    )
    await router.start()
    try:
        behaviours = {"op1001": Behaviour("never"), "op1002": Behaviour("answer", hold=30)}
        async with Phones(behaviours) as phones:
            for n in range(3):
                # Calls one after another: op1001 (idle longer) is rung first each time
                # until it is paused; op1002 answers every call.
                result = await place_call(f"7999000400{n}", DID, hangup_after=8, timeout=30)
                assert result.ok, result.describe()
                if n == 0:
                    assert (await operator(router, "op1001"))["consecutive_no_answers"] == 1
        report = phones.report()
        assert report["op1001"].invites == 2  # the third call never rang the paused phone
        assert report["op1002"].answered == 3
        state = await operator(router, "op1001")
        assert (state["state"], state["reason"]) == ("paused", "no_answer")
        status, body = await router.request(
            "PUT", "/api/operators/op1001/state", {"state": "available"}
        )
        assert status == 200 and body["consecutive_no_answers"] == 0
    finally:
        await router.stop()


async def test_paused_operator_receives_nothing(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001", "op1002"]))
    await router.start()
    try:
        status, _ = await router.request(
            "PUT", "/api/operators/op1001/state", {"state": "paused", "reason": "lunch"}
        )
        assert status == 200
        behaviours = {
            "op1001": Behaviour("answer", hold=30),
            "op1002": Behaviour("answer", hold=30),
        }
        async with Phones(behaviours) as phones:
            result = await place_call("79990004100", DID, hangup_after=2, timeout=20)
        assert result.ok, result.describe()
        report = phones.report()
        assert report["op1001"].invites == 0 and report["op1002"].answered == 1
    finally:
        await router.stop()


async def test_wrap_up_is_respected(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(
        tmp_path, rules=write_rules(tmp_path, ["op1001", "op1002"]), wrap_up_s=30
    )
    await router.start()
    try:
        behaviours = {
            "op1001": Behaviour("answer", hold=30),
            "op1002": Behaviour("answer", hold=30),
        }
        async with Phones(behaviours) as phones:
            first = await place_call("79990004200", DID, hangup_after=1, timeout=20)
            # The caller's SIPp ends with its BYE answered; the router sees the hang-up a
            # moment later (seen late on a loaded machine): wait for it, well inside 30 s.
            await router.wait_get(
                "/api/operators",
                lambda body: any(
                    o["id"] == "op1001" and o["state"] == "wrap_up" for o in body["operators"]
                ),
                5,
            )
            second = await place_call("79990004201", DID, hangup_after=1, timeout=20)
            third = await place_call("79990004202", DID, hangup_after=1, timeout=20)
        assert first.ok and second.ok
        report = phones.report()
        assert report["op1001"].answered == 1 and report["op1002"].answered == 1
        # Both operators in wrap-up: the third caller finds nobody (no re-ring early).
        assert third.ok
        calls = await router.wait_calls(3)
        assert calls[0]["outcome"] == "no_operator"
    finally:
        await router.stop()


async def test_operator_busy_on_a_direct_call_is_skipped(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001", "op1002"]))
    await router.start()
    try:
        behaviours = {
            "op1001": Behaviour("answer", hold=15),
            "op1002": Behaviour("answer", hold=30),
        }
        async with Phones(behaviours) as phones:
            # A call the router did not place: Asterisk rings op1001 directly.
            await asyncio.to_thread(
                sandbox.cli, "channel originate PJSIP/op1001 application Wait 20"
            )
            await phones.wait_for_invites("op1001", 1, timeout=10)
            await phones.wait_until("op1001", lambda r: r.answered == 1, timeout=10)
            result = await place_call("79990004300", DID, hangup_after=2, timeout=20)
        assert result.ok, result.describe()
        report = phones.report()
        assert report["op1001"].invites == 1  # only the direct call
        assert report["op1002"].answered == 1
        [call] = await router.wait_calls(1)
        assert call["operator_id"] == "op1002"
        _, detail = await router.request("GET", f"/api/calls/{call['id']}")
        assert [(a["operator"], a["result"]) for a in detail["ring_attempts"]] == [
            ("op1001", "busy"),
            ("op1002", "answered"),
        ]
    finally:
        await sandbox_hangup(sandbox)
        await router.stop()


async def sandbox_hangup(sandbox) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    await asyncio.to_thread(sandbox.hangup_all)


async def dial_code(op_id: str, code: str):  # type: ignore[no-untyped-def]
    """The operator's own phone (its SIP port, so Asterisk knows the endpoint) dials a code."""
    return await place_call(op_id, code, port=phone_port(op_id), timeout=15)


async def test_feature_codes_from_the_operators_phone(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001", "op1002"]))
    await router.start()
    try:
        assert (await dial_code("op1001", "*732")).ok  # pause: lunch
        state = await operator(router, "op1001")
        assert (state["state"], state["reason"]) == ("paused", "lunch")
        async with Phones({"op1002": Behaviour("answer", hold=30)}) as phones:
            result = await place_call("79990004400", DID, hangup_after=2, timeout=20)
        assert result.ok and phones.report()["op1002"].answered == 1  # op1001 paused
        assert (await dial_code("op1001", "*74")).ok
        assert (await operator(router, "op1001"))["state"] == "available"
        assert (await dial_code("op1001", "*72")).ok
        assert (await operator(router, "op1001"))["state"] == "offline"
        assert (await dial_code("op1001", "*739")).ok  # no reason 9: refused, unchanged
        assert (await operator(router, "op1001"))["state"] == "offline"
        assert (await dial_code("op1001", "*71")).ok
        assert (await operator(router, "op1001"))["state"] == "available"
    finally:
        await router.stop()


async def wait_operator(  # type: ignore[no-untyped-def]
    router: RouterProcess, op_id: str, ready, timeout: float = 15
) -> dict:  # type: ignore[type-arg]
    """The operator's state once `ready(state)` holds; fails after `timeout` seconds."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        state = await operator(router, op_id)
        if ready(state):
            return state
        assert time.monotonic() < deadline, f"{op_id} never got there: {state}"
        await asyncio.sleep(0.1)


async def test_a_feature_code_during_a_call_is_applied_when_it_ends(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    import asyncio

    # A wrap-up long enough that, were the code overwritten at hang-up, the test sees it.
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]), wrap_up_s=30)
    await router.start()
    try:
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
            talk = asyncio.create_task(place_call("79990004500", DID, hangup_after=6, timeout=30))
            try:
                await wait_operator(router, "op1001", lambda s: s["state"] == "on_call")
                # The operator's phone dials *72 on its second line while talking.
                await asyncio.to_thread(
                    sandbox.cli,
                    "channel originate PJSIP/op1001 extension *72@clinic-router-operators",
                )
                state = await wait_operator(router, "op1001", lambda s: s["pending"] is not None)
                assert state["state"] == "on_call"
                assert state["pending"] == {"state": "offline", "reason": None}
                result = await talk
            finally:
                talk.cancel()
            assert phones.report()["op1001"].answered == 2  # the call and the code's line
        assert result.ok, result.describe()
        state = await wait_operator(router, "op1001", lambda s: s["state"] != "on_call")
        assert (state["state"], state["pending"]) == ("offline", None)
    finally:
        await sandbox_hangup(sandbox)
        await router.stop()
