"""Issue 13 item 5, real Asterisk + SIPp: a callback goes to an operator who could have
taken the missed call (its branch and skill); a graceful stop leaves a callback
conversation talking and the restarted router closes it; a callback whose channels
vanished while the event socket was down is finished on reconnect."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from sip_test_harness.errors import SippError
from sip_test_harness.probe import AriAccess, ari_get
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sipp import Behaviour, Phones
from tests.asterisk.tcp_cut import CuttableRelay
from tests.asterisk.test_callback_capture import wait_task
from tests.asterisk.test_callback_dispatch import miss_at_max_wait
from tests.asterisk.test_ivr_and_queues import pause

pytestmark = pytest.mark.asterisk

# Two branches; the Moscow line's lab queue takes Moscow's lab operator only.
RULES = """
skills: {lab: Lab results, desk: Front desk}
operators:
  - {id: op1001, name: Spb Lab, endpoint: PJSIP/op1001, branch: spb, skills: {lab: 5}}
  - {id: op1002, name: Msk Lab, endpoint: PJSIP/op1002, branch: moscow, skills: {lab: 3}}
  - {id: op1003, name: Msk Desk, endpoint: PJSIP/op1003, branch: moscow, skills: {desk: 2}}
lines:
  - {id: moscow, numbers: ["74952232222"], branch: moscow, routes: main}
routes:
  main:
    - name: lab
      then: {queue: lab-msk}
queues:
  lab-msk:
    max_wait_s: 10
    branches: [moscow]
    steps: [{after_s: 0, skills: [lab]}]
callback:
  retry_after_min: [0, 1]
  max_attempts: 2
  min_abandon_s: 2
"""
FAST = "callbacks:\n  patient_ring_timeout_s: 10\n  poll_s: 0.5\n"
ALL = ("op1001", "op1002", "op1003")


def router_for(folder: Path) -> RouterProcess:
    rules = folder / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    return RouterProcess(folder, rules=rules, extra_settings=FAST)


def finished(task: dict[str, Any]) -> bool:
    return task["state"] not in ("open", "claimed")


async def wait_callback_bridged(timeout: float) -> None:
    """Until Asterisk has a callback bridge with both legs in it (they talk)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, bridges = await asyncio.to_thread(ari_get, AriAccess(), "bridges")
        if status == 200 and any(
            b["id"].startswith("cb-") and len(b["channels"]) == 2 for b in bridges
        ):
            return
        await asyncio.sleep(0.1)  # polling Asterisk's state, bounded by the deadline
    raise AssertionError("no callback bridge with two legs")


async def operator_state(router: RouterProcess, op: str, state: str, timeout: float) -> None:
    await router.wait_get(
        "/api/operators",
        lambda b: any(o["id"] == op and o["state"] == state for o in b["operators"]),
        timeout,
    )


async def test_the_callback_is_dialled_by_the_branch_and_skill_of_the_missed_call(
    sandbox: Any, tmp_path: Path
) -> None:
    number = "+79990013001"
    router = router_for(tmp_path)
    await router.start()
    spec = {op: Behaviour("answer", hold=None) for op in ALL}
    spec["patients"] = Behaviour("answer", answer_after=1, hold=2)
    try:
        await pause(router, *ALL)
        async with Phones(spec) as phones:
            await miss_at_max_wait(number)
            await wait_task(router, number, lambda t: t["state"] == "open", 5)
            # Free: another branch's lab operator, and this branch's desk. Neither may
            # take a Moscow lab call, so neither may call it back (ten polls).
            await pause(router, "op1001", "op1003", state="available")
            with pytest.raises(SippError):
                await phones.wait_until("op1001", lambda r: r.invites > 0, timeout=5)
            assert phones.report("op1003").invites == 0
            await pause(router, "op1002", state="available")
            done, _ = await wait_task(router, number, finished, 30)
            reports = phones.report()
        assert done["close_reason"] == "connected", done
        assert reports["op1002"].invites == 1 and reports["patients"].answered == 1
        assert reports["op1001"].invites == 0 and reports["op1003"].invites == 0
    finally:
        await router.stop()


async def test_sigterm_leaves_the_callback_talking_and_the_restart_closes_it(
    sandbox: Any, tmp_path: Path
) -> None:
    number = "+79990013002"
    router = router_for(tmp_path)
    await router.start()
    talk_s = 12.0
    spec = {
        "op1002": Behaviour("answer", hold=None),
        "patients": Behaviour("answer", answer_after=1, hold=talk_s),
    }
    try:
        await pause(router, *ALL)
        async with Phones(spec) as phones:
            await miss_at_max_wait(number)
            await pause(router, "op1002", state="available")
            await phones.wait_until("patients", lambda r: r.answered == 1, timeout=30)
            assert router.proc is not None
            router.signal(signal.SIGTERM)  # systemctl restart: a graceful stop
            assert await asyncio.to_thread(router.proc.wait, 15) == 0
            await router.start()
            done, _ = await wait_task(router, number, finished, talk_s + 20)
            await phones.wait_until(
                "op1002", lambda r: bool(r.calls) and r.calls[0].ended_by is not None, timeout=10
            )
            reports = phones.report()
            await operator_state(router, "op1002", "available", 10)
        patient, operator = reports["patients"].calls, reports["op1002"].calls
        assert len(patient) == 1 and len(operator) == 1  # nobody dialled twice
        # The patient talked their whole time and hung up themselves: the stop did not
        # cut them off; the restarted router then released the operator.
        assert patient[0].ended_by == "phone", patient
        assert operator[0].ended_by == "far_end", operator
        assert done["close_reason"] == "connected" and done["attempts"] == 1, done
    finally:
        await router.stop()


async def test_a_callback_whose_channels_vanished_while_disconnected_is_finished(
    sandbox: Any, tmp_path: Path
) -> None:
    number = "+79990013003"
    relay = CuttableRelay(sandbox.ari_access.host, sandbox.ari_access.port)
    await relay.start()
    router = router_for(tmp_path)
    router.config.write_text(
        router.config.read_text().replace(router.ari_url, f"http://127.0.0.1:{relay.port}/ari")
    )
    await router.start()
    spec = {
        "op1002": Behaviour("answer", hold=None),
        "patients": Behaviour("answer", answer_after=1, hold=4),
    }
    try:
        await pause(router, *ALL)
        async with Phones(spec) as phones:
            await miss_at_max_wait(number)
            await pause(router, "op1002", state="available")
            await wait_callback_bridged(30)
            await relay.cut()  # the event socket drops; the patient hangs up meanwhile
            await router.wait_health(lambda h: h.get("ari_connected") is False, 10)
            await phones.wait_until(
                "patients", lambda r: bool(r.calls) and r.calls[0].ended_by is not None, timeout=15
            )
            await relay.start()
            reconnected = time.monotonic()
            await router.wait_health(lambda h: h.get("ari_connected") is True, 15)
            done, _ = await wait_task(router, number, finished, 15)
            await operator_state(router, "op1002", "available", 10)
            print(f"\nreconnect -> callback closed: {time.monotonic() - reconnected:.1f} s")
            reports = phones.report()
        assert done["close_reason"] == "connected" and done["attempts"] == 1, done
        assert reports["op1002"].calls[0].ended_by == "far_end"  # released by the router
    finally:
        await router.stop()
        await relay.close()
