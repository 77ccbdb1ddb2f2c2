"""Real Asterisk + SIPp: calls the dialplan fallback served while no router was there, and
no operator answered, reach the callback ledger once a router connects."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from router.engine.fallback_misses import FAMILY, LABEL
from sip_test_harness.probe import ari_get
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.test_callback_capture import tasks, wait_task
from tests.asterisk.test_ivr_and_queues import DID, rules_file

pytestmark = pytest.mark.asterisk


async def records(sandbox: Sandbox) -> list[str]:
    """The fallback's AstDB keys (`database show` prints `/family/key: value`)."""
    shown = await asyncio.to_thread(sandbox.cli, f"database show {FAMILY}")
    prefix = f"/{FAMILY}/"
    rows = [ln.rsplit(": ", 1)[0].rstrip() for ln in shown.splitlines() if ln.startswith(prefix)]
    return [row[len(prefix) :] for row in rows]


async def clean_slate(sandbox: Sandbox) -> None:
    """No channel left by an earlier test (a leftover leg would keep op1001 busy), and
    no fallback record (hanging up a caller left in the fallback writes one)."""
    await asyncio.to_thread(sandbox.hangup_all)
    deadline = time.monotonic() + 5
    while (await asyncio.to_thread(ari_get, sandbox.ari_access, "channels"))[1]:
        assert time.monotonic() < deadline, "channels left after hanging up all"
        await asyncio.sleep(0.1)  # a channel is gone once its hang-up handler has run
    await asyncio.to_thread(sandbox.cli, f"database deltree {FAMILY}")


async def wait_records(sandbox: Sandbox, predicate: Any, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        keys = await records(sandbox)
        if predicate(keys) or time.monotonic() > deadline:
            return keys
        await asyncio.sleep(0.1)


async def wait_log(router: RouterProcess, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in router.tail(400):
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{router.tail()}"
        await asyncio.sleep(0.1)


async def test_unanswered_fallback_calls_reach_the_ledger_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # No router runs: every call goes to the dialplan fallback.
    await clean_slate(sandbox)
    number = "+79990007001"
    async with Phones({"op1001": Behaviour("never")}) as phones:
        # op1001 rings in the fallback queue and never answers; the callers give up.
        rang = await place_call(number[1:], DID, cancel_after=4, timeout=30)
        hung_up = time.time()
        withheld = await place_call("anonymous", DID, cancel_after=2, timeout=30)
        await phones.wait_idle("op1001", timeout=5)
    assert rang.ok and not rang.answered, rang.describe()
    assert withheld.ok and not withheld.answered, withheld.describe()
    assert phones.report("op1001").invites == 2
    keys = await wait_records(sandbox, lambda k: len(k) == 2, 5)
    assert len(keys) == 2, keys
    [ours] = [k for k in keys if k.endswith(":" + number[1:])]

    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    await router.start()
    try:
        task, _ = await wait_task(router, number, lambda t: True, 5)
        assert task["reasons"] == [LABEL] and task["miss_count"] == 1
        assert task["line"] == "moscow" and task["state"] == "open"
        # Missed when the caller hung up, not when the router learnt of it.
        missed_at = datetime.fromisoformat(task["first_missed_at"]).timestamp()
        assert abs(missed_at - hung_up) <= 2
        [miss] = (await router.get(f"/api/callbacks/{task['id']}"))["misses"]
        assert 2 <= miss["waited_s"] <= 8  # rang about 4 s after StasisBroadcast's 1 s
        assert await wait_records(sandbox, lambda k: k == [], 5) == []
        summary = await router.get("/api/callbacks/summary")
        assert (summary["misses"], summary["lost_anonymous"]) == (2, 1)
        call_id = ours.split(":")[0]
        call = await router.get(f"/api/calls/{call_id}")
        assert call["outcome"] == "no_operator"
        assert [s["data"]["reason"] for s in call["journey"] if s["kind"] == "miss"] == [LABEL]

        # A record read again (say the router died between the write and the delete)
        # changes nothing; a further reconnect finds nothing at all.
        await asyncio.to_thread(sandbox.cli, f"database put {FAMILY} {ours} 1")
        await router.stop()
        await router.start()
        assert await wait_records(sandbox, lambda k: k == [], 5) == []
        await router.stop()
        await router.start()
        await wait_log(router, "fallback misses: 0 recorded", 5)
        [again] = await tasks(router, number)
        assert again["miss_count"] == 1
        summary = await router.get("/api/callbacks/summary")
        assert (summary["misses"], summary["lost_anonymous"]) == (2, 1)
    finally:
        await router.stop()


async def test_fallback_call_an_operator_answered_is_no_miss(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = "+79990007002"
    await clean_slate(sandbox)
    async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
        result = await place_call(number[1:], DID, hangup_after=2, timeout=30)
        await phones.wait_idle("op1001", timeout=5)
    assert result.ok and result.answered, result.describe()
    assert phones.report("op1001").answered == 1
    assert await records(sandbox) == []
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    await router.start()
    try:
        await wait_log(router, "fallback misses: 0 recorded", 5)
        assert await tasks(router, number) == []
        # journaled as served by the fallback (issue 15), and no miss
        [call] = await router.wait_calls(1, timeout=10)
        assert call["outcome"] == "answered" and call["caller"] == number
        assert [s["kind"] for s in call["journey"]] == ["served_by"]
    finally:
        await router.stop()
