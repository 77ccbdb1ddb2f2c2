"""AGI mode, real Asterisk + SIPp: a call whose decision came too late (the dialplan's
CR_AGI_TIMEOUT sent it on to the plain queue first) is recorded as what happened to it:
served by the plain queue, the decision marked late; never a miss, never a call without
a record (docs/agi-mode.md, "Failures")."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from router.config.rules import load_rules
from sip_test_harness.instance import current
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox_agi import AGI_DID, AGI_PORT, AGI_TIMEOUT_S, apply_queues, unpause_all
from sip_test_harness.sipp import Behaviour, Phones, place_call

pytestmark = pytest.mark.asterisk

RULES = Path(__file__).resolve().parents[1] / "data" / "agi" / "rules.yaml"
HOST = current().host
AGI_SETTINGS = f"agi:\n  enabled: true\n  host: {HOST}\n  port: {AGI_PORT}\n  ami_host: {HOST}\n"
CRM_DELAY_S = 2.5  # the CRM's answer; CR_AGI_TIMEOUT is set to 1 s for the test
CALLER = "+79990004021"


@pytest.fixture
async def slow_crm() -> AsyncIterator[str]:
    """A CRM that knows the caller (manager op1004) and answers after CRM_DELAY_S."""

    async def lookup(request: web.Request) -> web.Response:
        await asyncio.sleep(CRM_DELAY_S)
        return web.json_response([{"id": "crm-21", "name": "Ivan", "manager": "op1004"}])

    app = web.Application()
    app.router.add_get("/lookup", lookup)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/lookup?phone={{phone}}"
    await runner.cleanup()


async def start_router(sandbox, tmp_path: Path, extra: str = "") -> RouterProcess:  # type: ignore[no-untyped-def]
    apply_queues(sandbox, load_rules(RULES))
    router = RouterProcess(tmp_path, rules=RULES, extra_settings=AGI_SETTINGS + extra)
    await router.start()
    return router


async def stop_router(sandbox, router: RouterProcess) -> None:  # type: ignore[no-untyped-def]
    await router.stop()
    sandbox.hangup_all()
    unpause_all(sandbox, load_rules(RULES))


def kinds(call: dict[str, Any]) -> list[str]:
    return [s["kind"] for s in call["journey"]]


def step(call: dict[str, Any], kind: str) -> dict[str, Any]:
    return dict(next(s for s in call["journey"] if s["kind"] == kind)["data"])


async def test_a_decision_after_the_timeout_is_late_and_the_plain_queue_answer_is_recorded(  # type: ignore[no-untyped-def]
    sandbox, slow_crm: str, tmp_path: Path
) -> None:
    crm = f"crm:\n  url: '{slow_crm}'\n  timeout_ms: 3000\n"
    sandbox.cli("dialplan set global CR_AGI_TIMEOUT 1")  # the CRM answers after 2.5 s
    router = await start_router(sandbox, tmp_path, crm)
    try:
        # op1004 (the decision's manager) has no phone: the call can only be answered by
        # the plain queue ([clinic-router-fallback]), where op1001 answers
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as running:
            result = await place_call(CALLER[1:], AGI_DID, hangup_after=6, timeout=30)
        assert result.ok and result.answered, result.describe()
        assert running.report()["op1001"].answered == 1
        [call] = await router.wait_calls(1, timeout=15)
        tasks = await router_tasks(router, CALLER)
    finally:
        sandbox.cli(f"dialplan set global CR_AGI_TIMEOUT {AGI_TIMEOUT_S}")
        await stop_router(sandbox, router)
    assert (call["outcome"], call["operator_id"]) == ("answered", "op1001"), kinds(call)
    assert step(call, "agi_unsent")["operator"] == "op1004"  # the decision, never used
    assert step(call, "agi_late")["went_on"] == "clinic-router-fallback"
    assert "agi_decision" not in kinds(call) and "miss" not in kinds(call)
    # the plain queue's steps come while the router still waits for the CRM
    served = [k for k in kinds(call) if k in ("agi_late", "waiting", "connected", "outcome")]
    assert served == ["agi_late", "waiting", "connected", "outcome"], kinds(call)
    assert tasks == [], tasks  # nobody is called back for a call the queue served


async def router_tasks(router: RouterProcess, number: str) -> list[dict[str, Any]]:
    body = await router.get("/api/callbacks?limit=200")
    return [t for t in body["callbacks"] if t["number"] == number]


async def test_a_session_read_after_the_call_went_on_still_gets_its_record(  # type: ignore[no-untyped-def]
    sandbox, tmp_path: Path
) -> None:
    """A router frozen past CR_AGI_TIMEOUT reads the session late: its first command finds
    the channel gone on to the plain queue. The call is recorded all the same."""
    router = await start_router(sandbox, tmp_path)
    try:
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as running:
            router.signal(signal.SIGSTOP)  # accepts the AGI connection, says nothing
            try:
                placed = asyncio.create_task(
                    place_call("79990004022", AGI_DID, hangup_after=8, timeout=40)
                )
                await running.wait_for_invites("op1001", timeout=AGI_TIMEOUT_S + 10)
            finally:
                router.signal(signal.SIGCONT)
            result = await placed
        assert result.ok and result.answered, result.describe()
        assert running.report()["op1001"].answered == 1
        [call] = await router.wait_calls(1, timeout=20)
    finally:
        await stop_router(sandbox, router)
    assert (call["outcome"], call["operator_id"]) == ("answered", "op1001"), kinds(call)
    assert "agi_late" in kinds(call) and "agi_decision" not in kinds(call)
