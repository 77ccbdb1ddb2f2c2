"""The sandbox alone (no router connected): calls reach operators through the fallback.

StasisBroadcast finds nobody to claim the call, times out after 1000 ms and the
dialplan's [clinic-router-fallback] queues it to the operators' phones.
"""

from __future__ import annotations

import pytest

from sip_test_harness.probe import ari_get
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.scenarios import Behaviour
from sip_test_harness.sipp import Phones, place_call

pytestmark = pytest.mark.asterisk

DID = "74952232222"


@pytest.fixture
def no_router(sandbox: Sandbox) -> Sandbox:
    """The sandbox, checked to have no router application connected."""
    status, apps = ari_get(sandbox.ari_access, "applications")
    assert status == 200
    routers = [app["name"] for app in apps if app["name"].startswith("clinic-router")]
    assert routers == [], f"a router is connected, the fallback cannot be tested: {routers}"
    return sandbox


async def test_call_reaches_an_operator_through_the_fallback(no_router: Sandbox) -> None:
    async with Phones({"op1001": Behaviour(answer_after=0.5, hold=2)}) as phones:
        result = await place_call("79161234567", DID, timeout=30)
        await phones.wait_idle("op1001", timeout=5)
    assert result.ok, result.describe()
    assert result.answered and result.hangup_by == "far_end"
    # nobody claimed the call: StasisBroadcast waited its full 1000 ms first
    assert result.time_to_answer is not None and result.time_to_answer >= 1.0
    report = phones.report("op1001")
    assert (report.invites, report.answered, report.completed) == (1, 1, 1)
    assert report.calls[0].ended_by == "phone"


async def test_did_with_a_plus_is_not_lost(no_router: Sandbox) -> None:
    async with Phones({"op1001": "answer"}) as phones:
        result = await place_call("+79161234567", "+" + DID, hangup_after=1, timeout=30)
        await phones.wait_idle("op1001", timeout=5)
    assert result.ok, result.describe()
    assert result.answered and result.hangup_by == "caller"
    report = phones.report("op1001")
    assert report.invites == 1 and report.calls[0].ended_by == "far_end"


async def test_caller_gives_up_while_the_operator_rings(no_router: Sandbox) -> None:
    async with Phones({"op1001": "never"}) as phones:
        result = await place_call("79161234567", DID, cancel_after=3, timeout=30)
        await phones.wait_idle("op1001", timeout=5)
    assert result.ok, result.describe()
    assert not result.answered and result.hangup_by == "caller"
    assert result.final_status == 487
    report = phones.report("op1001")
    assert (report.invites, report.cancelled, report.answered) == (1, 1, 0)


async def test_busy_operator_is_skipped_and_dtmf_arrives(no_router: Sandbox) -> None:
    log = no_router.log_file
    offset = log.stat().st_size
    behaviours = {"op1001": Behaviour("busy"), "op1002": Behaviour(hold=3)}
    async with Phones(behaviours) as phones:
        result = await place_call("79161234567", DID, dtmf="1*#", dtmf_delay=0.5, timeout=40)
        await phones.wait_idle("op1002", timeout=5)
    assert result.ok, result.describe()
    assert phones.report("op1002").answered == 1
    assert phones.report("op1001").answered == 0
    with log.open() as text:
        text.seek(offset)
        digits = [ln.split("'")[1] for ln in text if "DTMF end '" in ln and "received" in ln]
    assert digits == ["1", "*", "#"]
