"""Issue 6, real Asterisk + SIPp: callbacks are dialled operator first, then the patient
through the outbound trunk (SIPp UAS `patients` on 5080), and worked to an outcome."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sip_test_harness.errors import SippError
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.test_callback_capture import wait_task, wait_waiting
from tests.asterisk.test_ivr_and_queues import DID, pause

pytestmark = pytest.mark.asterisk

RULES = """
skills: {paid: Paid}
operators:
  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {paid: 4}}
  - {id: op1002, name: Maria, endpoint: PJSIP/op1002, skills: {paid: 2}}
lines:
  - {id: moscow, numbers: ["74952232222"], routes: main}
routes:
  main:
    - name: everyone
      then: {queue: paid}
queues:
  paid:
    max_wait_s: 10
    steps: [{after_s: 0, skills: [paid]}]
callback:
  retry_after_min: [0, 1]
  max_attempts: 2
  min_abandon_s: 2
"""
FAST = "callbacks:\n  patient_ring_timeout_s: 5\n  poll_s: 0.5\n"


def callback_router(folder: Path, **kwargs: Any) -> RouterProcess:
    rules = folder / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    extra = kwargs.pop("extra_settings", FAST)
    return RouterProcess(folder, rules=rules, extra_settings=extra, **kwargs)


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def miss_at_max_wait(number: str) -> None:
    """A caller of the paid queue nobody can take: a `max_wait` task due at once."""
    result = await place_call(number[1:], DID, timeout=40)
    assert result.ok, result.describe()


async def test_callback_rings_the_operator_first_then_the_patient_and_closes_connected(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = "+79990006001"
    router = callback_router(tmp_path)
    await router.start()
    phones_spec = {
        "op1001": Behaviour("answer", hold=None),
        "op1002": Behaviour("answer", hold=None),
        "patients": Behaviour("answer", answer_after=1, hold=4),
    }
    try:
        await pause(router, "op1001", "op1002")  # nobody: the caller waits 10 s and misses
        async with Phones(phones_spec) as phones:
            await miss_at_max_wait(number)
            task, _ = await wait_task(router, number, lambda t: t["state"] == "open", 5)
            assert task["reasons"] == ["max_wait"] and task["attempts"] == 0
            freed = time.time()
            await pause(router, "op1002", state="available")  # op1002 may call back
            closed, _ = await wait_task(
                router, number, lambda t: t["state"] != "open" and t["state"] != "claimed", 30
            )
            reports = phones.report()
        op = reports["op1002"].calls
        patient = reports["patients"].calls
        assert closed["state"] == "closed" and closed["close_reason"] == "connected", closed
        assert closed["attempts"] == 1 and closed["last_outcome"] == "connected"
        assert len(op) == 1 and op[0].answered_at is not None  # the operator first...
        assert len(patient) == 1 and patient[0].called == number[1:]  # ...then the patient
        assert patient[0].invited_at > op[0].answered_at
        assert patient[0].answered_at is not None and patient[0].ended_by == "phone"
        assert reports["op1001"].invites == 0
        # due -> operator ringing, with an operator free (printed for the closing note)
        print(f"\nfreed -> operator INVITE: {1000 * (op[0].invited_at - freed):.0f} ms")
        assert op[0].invited_at - freed < 5
    finally:
        await router.stop()


async def test_patient_who_does_not_answer_is_retried_by_the_schedule_then_unreachable(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = "+79990006002"
    router = callback_router(tmp_path)
    await router.start()
    phones_spec = {"op1002": Behaviour("answer", hold=None), "patients": Behaviour("never")}
    try:
        await pause(router, "op1001", "op1002")
        async with Phones(phones_spec) as phones:
            await miss_at_max_wait(number)
            await pause(router, "op1002", state="available")
            first, _ = await wait_task(
                router, number, lambda t: t["attempts"] == 1 and t["state"] == "open", 30
            )
            assert first["last_outcome"] == "no_answer"
            # retry_after_min [0, 1]: due one minute after the first attempt ended (it
            # started with the operator: the whisper reads the number out, then 5 s ring)
            assert 60 <= at(first["due_at"]) - at(first["last_attempt_at"]) <= 60 + 25
            # no early redial: the second INVITE's distance from the first is checked below
            assert phones.report("patients").invites == 1
            final, _ = await wait_task(router, number, lambda t: t["state"] == "unreachable", 90)
            patient = phones.report("patients").calls
        assert final["attempts"] == 2 and final["close_reason"] == "unreachable"
        assert len(patient) == 2 and patient[1].invited_at - patient[0].invited_at >= 58
    finally:
        await router.stop()


async def test_caller_who_keeps_their_place_is_called_back_before_a_later_caller(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    kept, later = "+79990006003", "+79990006004"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("max_wait_s: 10", "max_wait_s: 40"), encoding="utf-8")
    router = RouterProcess(tmp_path, rules=rules, extra_settings=FAST)
    await router.start()
    phones_spec = {
        # busy with the first caller for 25 s: longer than the callback questions take
        # (a caller whose turn comes while answering them is simply put through)
        "op1001": Behaviour("answer", hold=25),
        "patients": Behaviour("answer", answer_after=1, hold=3),
    }
    try:
        await pause(router, "op1002")
        async with Phones(phones_spec) as phones:
            first = asyncio.create_task(place_call("79990006000", DID, timeout=60))
            await phones.wait_for_invites("op1001", 1, 10)
            # presses 5 (keep my place), then nothing: call me back on this number
            keeper = asyncio.create_task(
                place_call(kept[1:], DID, dtmf="5", dtmf_delay=2, timeout=40)
            )
            await wait_waiting(router, kept, 10)  # the keeper waits before the later caller
            waiting = asyncio.create_task(place_call(later[1:], DID, hangup_after=40, timeout=60))
            task, _ = await wait_task(router, kept, lambda t: t["keep_place"], 25)
            assert task["reasons"] == ["keep_place"]
            results = [await first, await keeper, await waiting]
            done, _ = await wait_task(router, kept, lambda t: t["state"] == "closed", 30)
            op = phones.report("op1001").calls
            patient = phones.report("patients").calls
        assert all(r.ok for r in results), [r.describe() for r in results]
        assert done["close_reason"] == "connected"
        # op1001: the first caller, then the callback (the patient rang while it was up),
        # and only then the caller who arrived after the one who kept their place
        assert len(patient) == 1 and patient[0].called == kept[1:]
        assert len(op) == 3, op
        assert op[1].invited_at < patient[0].invited_at < op[2].invited_at
        body = await router.wait_get(
            "/api/calls", lambda b: all(c["outcome"] for c in b["calls"]), 10
        )
        calls = {c["caller"]: c for c in body["calls"]}
        assert calls[kept]["outcome"] == "callback"
        assert calls[later]["outcome"] == "answered" and calls[later]["operator_id"] == "op1001"
    finally:
        await router.stop()


async def test_router_killed_while_the_patient_rings_dials_nobody_twice_and_finishes(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = "+79990006005"
    router = callback_router(tmp_path, extra_settings="callbacks:\n  poll_s: 0.5\n")
    await router.start()
    phones_spec = {
        "op1002": Behaviour("answer", hold=None),
        "patients": Behaviour("answer", answer_after=14, hold=3),
    }
    try:
        await pause(router, "op1001", "op1002")
        async with Phones(phones_spec) as phones:
            await miss_at_max_wait(number)
            await pause(router, "op1002", state="available")
            await phones.wait_for_invites("patients", 1, 30)
            router.kill()  # mid-dispatch: the operator is on, the patient's phone rings
            await router.start()
            done, _ = await wait_task(router, number, lambda t: t["state"] == "closed", 40)
            reports = phones.report()
        assert done["close_reason"] == "connected" and done["attempts"] == 1
        assert reports["patients"].invites == 1  # never dialled twice
        assert reports["patients"].answered == 1
        assert reports["op1002"].invites == 1
    finally:
        await router.stop()


async def test_outside_calling_hours_nobody_is_called_until_the_opening(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = "+79990006006"
    opens = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    if opens.hour == 23:  # keep the half-hour window within one day
        opens += timedelta(hours=1)
    window = f"{opens:%H:%M}-{opens + timedelta(minutes=30):%H:%M}"
    hours = f"{{mon-fri: '{window}', sat: '{window}', sun: '{window}'}}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        RULES.replace("callback:\n", "callback:\n  calendar: calling\n")
        + f"calendars:\n  calling:\n    timezone: UTC\n    hours: {hours}\n",
        encoding="utf-8",
    )
    router = RouterProcess(tmp_path, rules=rules, extra_settings=FAST)
    await router.start()
    phones_spec: dict[str, Behaviour | str] = {
        "op1002": Behaviour("answer", hold=None),
        "patients": "answer",
    }
    try:
        await pause(router, "op1001", "op1002")
        async with Phones(phones_spec) as phones:
            await miss_at_max_wait(number)
            await pause(router, "op1002", state="available")  # free, but calling hours are not
            task, _ = await wait_task(router, number, lambda t: t["state"] == "open", 5)
            # Proving that nothing happens needs a window: ten dispatcher polls (0.5 s).
            with pytest.raises(SippError):
                await phones.wait_until("op1002", lambda r: r.invites > 0, timeout=5)
            reports = phones.report()
            task, _ = await wait_task(router, number, lambda t: True, 5)
        assert at(task["due_at"]) == opens.timestamp()  # due at the opening, not before
        assert task["state"] == "open" and task["attempts"] == 0
        assert reports["op1002"].invites == 0 and reports["patients"].invites == 0
    finally:
        await router.stop()
