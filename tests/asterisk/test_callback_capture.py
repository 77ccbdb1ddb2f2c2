"""Issue 6, real Asterisk + SIPp: every miss reaches the callback ledger (capture and
auto-close; the outbound dispatch is tested in test_callback_dispatch.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Phones, place_call
from tests.asterisk.test_ivr_and_queues import DID, answering, pause, rules_file

pytestmark = pytest.mark.asterisk


def capture_only_router(folder: Path) -> RouterProcess:
    """These tests watch the ledger fill; dispatch (tested in test_callback_dispatch.py)
    would claim the tasks and ring whoever is free, so it is off here."""
    return RouterProcess(
        folder, rules=rules_file(folder), extra_settings="callbacks:\n  enabled: false\n"
    )


async def wait_waiting(router: RouterProcess, number: str, timeout: float) -> None:
    """Until the call from `number` waits in a queue (its journey has a `waiting` step)."""
    await router.wait_get(
        "/api/calls",
        lambda b: any(
            c["caller"] == number and any(s["kind"] == "waiting" for s in c["journey"])
            for c in b["calls"]
        ),
        timeout,
    )


async def tasks(router: RouterProcess, number: str) -> list[dict[str, Any]]:
    body = await router.get("/api/callbacks?limit=200")
    return [t for t in body["callbacks"] if t["number"] == number]


async def wait_task(
    router: RouterProcess, number: str, predicate: Any, timeout: float
) -> tuple[dict[str, Any], float]:
    """The first task of `number` that satisfies `predicate`, and how long it took to show."""

    def matching(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in body["callbacks"] if t["number"] == number and predicate(t)]

    started = time.monotonic()
    body = await router.wait_get("/api/callbacks?limit=200", matching, timeout)
    return matching(body)[0], time.monotonic() - started


async def test_abandon_in_queue_becomes_one_task_and_the_next_answered_call_closes_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = "+79990003001"
    router = capture_only_router(tmp_path)
    await router.start()
    try:
        await pause(router, "op1001", "op1002", "op1004")  # nobody for the paid queue
        async with Phones(answering(hold=30)):
            first = await place_call(number[1:], DID, dtmf="1", dtmf_delay=2, hangup_after=10)
            task, seen_after = await wait_task(router, number, lambda t: t["state"] == "open", 5)
            assert seen_after < 1.0  # visible well under a second after the hang-up
            assert task["reasons"] == ["abandoned"] and task["miss_count"] == 1
            detail = await router.get(f"/api/callbacks/{task['id']}")
            assert detail["misses"][0]["waited_s"] >= 9

            second = await place_call(number[1:], DID, dtmf="1", dtmf_delay=2, hangup_after=8)
            await wait_task(router, number, lambda t: t["miss_count"] == 2, 5)
            assert len(await tasks(router, number)) == 1  # one open task per number

            await pause(router, "op1001", state="available")
            third = await place_call(number[1:], DID, dtmf="1", dtmf_delay=2, hangup_after=3)
            closed, _ = await wait_task(router, number, lambda t: t["state"] != "open", 5)
        assert first.ok and second.ok and third.ok
        assert closed["close_reason"] == "reached_operator"
    finally:
        await router.stop()


async def test_ivr_abandons_under_the_minimum_and_anonymous_callers_make_no_task(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    router = capture_only_router(tmp_path)
    await router.start()
    try:
        quick = await place_call("79990003002", DID, hangup_after=1)
        slow = await place_call("79990003003", DID, hangup_after=6)
        anonymous = await place_call("anonymous", DID, hangup_after=6)
        assert quick.ok and slow.ok and anonymous.ok
        task, _ = await wait_task(router, "+79990003003", lambda t: True, 5)
        assert task["reasons"] == ["abandoned_in_ivr"]
        summary = await router.wait_get(
            "/api/callbacks/summary", lambda s: s["misses"] >= 3, timeout=5
        )
        assert summary["lost_anonymous"] == 1
        assert await tasks(router, "+79990003002") == []  # 1 s: a misdial, under min_abandon_s
    finally:
        await router.stop()


async def test_caller_who_gives_up_while_the_router_is_dead_still_gets_a_task(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = "+79990003004"
    router = capture_only_router(tmp_path)
    await router.start()
    try:
        await pause(router, "op1001", "op1002", "op1004")  # the caller waits in the queue
        caller = asyncio.create_task(
            place_call(number[1:], DID, dtmf="1", dtmf_delay=2, hangup_after=8, timeout=30)
        )
        await wait_waiting(router, number, 20)
        router.kill()  # whatever the dead process had not written yet is gone
        assert (await caller).ok  # the caller hangs up while nobody owns the call
        await router.start()  # reconcile closes the call and records the miss
        task, _ = await wait_task(router, number, lambda t: t["state"] == "open", 10)
        assert task["reasons"] == ["abandoned"] and task["miss_count"] == 1
    finally:
        await router.stop()
