"""Real Asterisk + SIPp: a call the dialplan fallback served while no router ran, answered
by an operator, is journaled once a router connects (served_by: fallback, who, how long)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from router.engine.fallback_served import FAMILY
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.rulesfile import write_rules
from tests.asterisk.test_fallback_misses import clean_slate

pytestmark = pytest.mark.asterisk
DID = "74952232222"


async def served_keys(sandbox: Sandbox, want: int, timeout: float) -> list[str]:
    prefix = f"/{FAMILY}/"
    deadline = time.monotonic() + timeout
    while True:
        shown = await asyncio.to_thread(sandbox.cli, f"database show {FAMILY}")
        rows = [ln.rsplit(": ", 1)[0].rstrip() for ln in shown.splitlines()]
        keys = [row[len(prefix) :] for row in rows if row.startswith(prefix)]
        if len(keys) == want or time.monotonic() > deadline:
            return keys
        await asyncio.sleep(0.1)  # the hang-up handler writes it as the caller leaves


async def test_an_answered_fallback_call_is_journaled(sandbox: Sandbox, tmp_path: Path) -> None:
    await clean_slate(sandbox)  # no router runs: the call goes to the dialplan fallback
    async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
        result = await place_call("79990007101", DID, hangup_after=3, timeout=30)
        await phones.wait_idle("op1001", timeout=10)
    assert result.ok and result.answered, result.describe()
    [key] = await served_keys(sandbox, 1, 5)
    assert key.endswith(":79990007101:op1001")

    router = RouterProcess(tmp_path, rules=write_rules(tmp_path, ["op1001"]))
    await router.start()
    try:
        [call] = await router.wait_calls(1, timeout=15)
        assert call["id"] == key.split(":")[0]
        assert (call["outcome"], call["operator_id"]) == ("answered", "op1001")
        assert call["answered_at"] is not None and call["ended_at"] is not None
        [served] = [s["data"] for s in call["journey"] if s["kind"] == "served_by"]
        assert served["served_by"] == "fallback" and served["endpoint"] == "op1001"
        assert 2 <= served["talk_s"] <= 6  # the caller hung up 3 s after the answer
        assert await served_keys(sandbox, 0, 5) == []  # read once, then deleted
        await router.stop()
        await router.start()  # a further connect finds nothing: still one call
        assert len(await router.calls()) == 1
    finally:
        await router.stop()
