"""The CRM adapter on the real sandbox: a slow, broken or helpful CRM and a real call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.rulesfile import write_rules

pytestmark = pytest.mark.asterisk

DID = "74952232222"


class Crm:
    mode = "slow"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "slow":
            await asyncio.sleep(3)
        if self.mode == "garbage":
            return web.Response(body=b"\x00\xffnot json at all", content_type="text/plain")
        return web.json_response([{"id": "crm-9", "name": "Ivan", "manager": "op1002"}])


@pytest.fixture
async def crm() -> AsyncIterator[tuple[Crm, str]]:
    fake = Crm()
    app = web.Application()
    app.router.add_get("/lookup", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield fake, f"http://127.0.0.1:{runner.addresses[0][1]}/lookup?phone={{phone}}"
    await runner.cleanup()


def crm_settings(url: str) -> str:
    return f"crm:\n  url: '{url}'\n  timeout_ms: 300\n"


def step(call: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(s for s in call["journey"] if s["kind"] == kind)


async def run_call(router: RouterProcess, caller: str) -> dict[str, Any]:
    phones_spec = {"op1001": Behaviour("answer", hold=30), "op1002": Behaviour("answer", hold=30)}
    async with Phones(phones_spec):
        result = await place_call(caller, DID, hangup_after=2, timeout=20)
    assert result.ok, result.describe()
    [call] = await router.wait_calls(1)
    return call


async def test_slow_crm_local_profile_used_within_the_timeout(sandbox, crm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = crm
    fake.mode = "slow"
    router = RouterProcess(
        tmp_path,
        rules=write_rules(tmp_path, ["op1001", "op1002"]),
        extra_settings=crm_settings(url),
    )
    csv = tmp_path / "patients.csv"
    csv.write_text("patient_id,name,phones,assigned_operator\np-1,Anna,+79161234567,op1002\n")
    await router.import_patients(csv)
    await router.start()
    try:
        call = await run_call(router, "79161234567")
        identified = step(call, "identified")
        assert identified["data"]["crm"] == "timeout"
        assert identified["data"]["source"] == "local"
        assert call["operator_id"] == "op1002" and call["outcome"] == "answered"
        arrived = datetime.fromisoformat(step(call, "arrived")["at"])
        ringing = datetime.fromisoformat(step(call, "ringing")["at"])
        assert (ringing - arrived).total_seconds() < 1.0  # the 3 s CRM never held the caller
    finally:
        await router.stop()


async def test_garbage_crm_answer_is_an_unknown_caller(sandbox, crm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = crm
    fake.mode = "garbage"
    router = RouterProcess(
        tmp_path,
        rules=write_rules(tmp_path, ["op1001", "op1002"]),
        extra_settings=crm_settings(url),
    )
    await router.start()
    try:
        call = await run_call(router, "79161234567")
        assert step(call, "identified")["data"]["crm"] == "error"
        assert call["patient_id"] is None
        assert call["outcome"] == "answered" and call["operator_id"] == "op1001"
    finally:
        await router.stop()


async def test_crm_known_caller_goes_to_the_crm_manager(sandbox, crm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = crm
    fake.mode = "ok"
    router = RouterProcess(
        tmp_path,
        rules=write_rules(tmp_path, ["op1001", "op1002"]),
        extra_settings=crm_settings(url),
    )
    await router.start()
    try:
        call = await run_call(router, "79161234567")
        assert step(call, "identified")["data"]["source"] == "crm"
        assert (call["patient_id"], call["operator_id"]) == ("crm-9", "op1002")
    finally:
        await router.stop()
