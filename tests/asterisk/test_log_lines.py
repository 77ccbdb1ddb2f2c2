"""The router's log on a real call: every line has the UTC time to the millisecond, and the
lines logged while the call runs carry its call id; JSON on request, from the environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.rulesfile import write_rules

pytestmark = pytest.mark.asterisk

DID = "74952232222"
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
TEXT_LINE = re.compile(rf"^{TS} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ \[[^\]]*\] ")


async def answered_call(router: RouterProcess, caller: str) -> str:
    """One call op1001 answers; its call id once the router has written it."""
    await router.start()
    try:
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
            result = await place_call(caller, DID, hangup_after=2, timeout=30)
            await phones.wait_idle("op1001", timeout=10)
        assert result.ok, result.describe()
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "answered"
        return str(call["id"])
    finally:
        await router.stop()


async def test_text_lines_carry_the_time_and_the_call(sandbox: Sandbox, tmp_path: Path) -> None:
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]), log_level="debug")
    call_id = await answered_call(router, "79990002201")
    lines = router.log_path.read_text(encoding="utf-8").splitlines()
    records = [line for line in lines if re.match(r"\d{4}-", line)]
    assert records and all(TEXT_LINE.match(line) for line in records), [
        line for line in records if not TEXT_LINE.match(line)
    ][:5]
    of_the_call = [line for line in records if f"[{call_id}" in line]
    # the call's task logs its course; the REST requests it makes are logged in its context
    assert len(of_the_call) >= 3, lines[-40:]
    assert any(line.split()[2].startswith("router.engine") for line in of_the_call), of_the_call


async def test_json_lines_on_request(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLINIC_ROUTER_LOG_FORMAT", "json")
    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]), log_level="info")
    call_id = await answered_call(router, "79990002202")
    entries = [json.loads(line) for line in router.log_path.read_text("utf-8").splitlines()]
    assert entries and all(re.fullmatch(TS, e["ts"]) for e in entries)
    assert any(e.get("call_id") == call_id for e in entries), entries[-20:]
