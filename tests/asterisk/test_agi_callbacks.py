"""Issue 18, real Asterisk + SIPp: callbacks of an AGI-mode line dialled over AMI
(router/ami/callbacks.py, router/engine/callbacks/ami_attempt.py): an abandon in
app_queue becomes a task, the operator's phone rings first (AMI Originate into
[clinic-router-agi-callback]), then the patient's through the trunk (SIPp `patients`),
exactly once across a router kill."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from router.config.rules import load_rules
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox_agi import AGI_DID, apply_queues, unpause_all
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.test_agi_mode import AGI_SETTINGS, RULES
from tests.asterisk.test_callback_capture import wait_task
from tests.asterisk.test_ivr_and_queues import pause

pytestmark = pytest.mark.asterisk

POLICY = "\ncallback:\n  retry_after_min: [0, 1]\n  max_attempts: 2\n"
# hold_s: a task whose operator did not answer gives its claim back after 10 s
CALLBACKS = "callbacks:\n  poll_s: 0.5\n  hold_s: 10\n"
EVERYONE = ("op1001", "op1002", "op1003", "op1004")


@pytest.fixture
async def make_router(  # type: ignore[no-untyped-def]
    sandbox, tmp_path: Path
) -> AsyncIterator[Callable[[], RouterProcess]]:
    """A router with callbacks on and AGI mode over AMI, on the AGI line's rules plus a
    callback policy (the app_queue queues applied)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text(encoding="utf-8") + POLICY, encoding="utf-8")
    apply_queues(sandbox, load_rules(rules))  # every operator unpaused, too
    made: list[RouterProcess] = []

    def make() -> RouterProcess:
        made.append(RouterProcess(tmp_path, rules=rules, extra_settings=AGI_SETTINGS + CALLBACKS))
        return made[-1]

    try:
        yield make
    finally:
        for router in made:
            await router.stop()
        sandbox.hangup_all()
        # the router's pauses reach app_queue (QueuePause): none is left for the next test
        unpause_all(sandbox, load_rules(rules))


async def started(router: RouterProcess) -> RouterProcess:
    """Started and connected; a start takes long on a loaded machine (load 16 on 2 cores
    seen), longer than `start`'s own 20 s."""
    await router.start(wait_connected=False)
    await router.wait_health(lambda h: h.get("ari_connected") is True, 90)
    return router


async def abandon(router: RouterProcess, number: str) -> dict[str, Any]:
    """The caller presses 1 (the paid queue), op1001 rings and never answers, the caller
    hangs up: one `abandoned` task. Everyone is paused in the router first, so no
    callback starts before the test frees an operator."""
    await pause(router, *EVERYONE)
    result = await place_call(
        number[1:], AGI_DID, dtmf="1", dtmf_delay=1.5, hangup_after=9, timeout=40
    )
    assert result.ok and result.answered, result.describe()
    task, _ = await wait_task(router, number, lambda t: t["state"] == "open", 10)
    assert task["reasons"] == ["abandoned"] and task["attempts"] == 0
    return task


def rings(router: RouterProcess, task_id: int) -> list[tuple[str, str, str]]:
    """callback_rings of the task: (party, operator, result) in order."""
    with sqlite3.connect(router.db_path) as db:
        rows = db.execute(
            "SELECT party, operator_id, result FROM callback_rings WHERE task_id = ? ORDER BY id",
            (task_id,),
        ).fetchall()
    return [(str(p), str(o), str(r)) for p, o, r in rows]


def closed(task: dict[str, Any]) -> bool:
    return task["state"] not in ("open", "claimed")


async def test_an_abandon_is_called_back_operator_first_and_closed_reached(make_router) -> None:  # type: ignore[no-untyped-def]
    number = "+79990008001"
    router = await started(make_router())
    phones_spec = {
        "op1001": Behaviour("never"),
        "op1002": Behaviour("answer", hold=None),
        "patients": Behaviour("answer", answer_after=1, hold=4),
    }
    async with Phones(phones_spec) as phones:
        task = await abandon(router, number)
        await pause(router, "op1002", state="available")  # op1002 (paid 2) may call back
        done, _ = await wait_task(router, number, closed, 40)
        reports = phones.report()
    op = reports["op1002"].calls
    patient = reports["patients"].calls
    assert done["state"] == "closed" and done["close_reason"] == "connected", done
    assert done["attempts"] == 1 and done["last_outcome"] == "connected"
    assert len(op) == 1 and op[0].answered_at is not None  # the operator first...
    assert len(patient) == 1 and patient[0].called == number[1:]  # ...then the patient
    assert patient[0].invited_at > op[0].answered_at
    assert patient[0].answered_at is not None
    # the whisper (the sounds, four digits read out, the reason) came between the two
    print(
        f"\noperator answered -> patient INVITE: {patient[0].invited_at - op[0].answered_at:.1f} s"
    )
    assert rings(router, task["id"]) == [
        ("operator", "op1002", "answered"),
        ("patient", "op1002", "answered"),
    ]


@pytest.mark.parametrize("when", ["ringing", "talking"])
async def test_a_callback_is_dialled_operator_first_exactly_once_across_a_router_kill(  # type: ignore[no-untyped-def]
    make_router, when: str
) -> None:
    number = "+79990008002" if when == "ringing" else "+79990008003"
    patient_phone = (
        # long enough for a restart on a loaded machine to find the call still up
        Behaviour("answer", answer_after=20, hold=25)
        if when == "ringing"
        else Behaviour("answer", answer_after=1, hold=40)
    )
    router = await started(make_router())
    phones_spec = {
        "op1001": Behaviour("never"),
        "op1002": Behaviour("answer", hold=None),
        "patients": patient_phone,
    }
    async with Phones(phones_spec) as phones:
        task = await abandon(router, number)
        await pause(router, "op1002", state="available")
        if when == "ringing":
            await phones.wait_for_invites("patients", 1, 30)
        else:
            await wait_task(router, number, lambda t: t["attempt_stage"] == "bridged", 30)
        router.kill()  # the operator is on; the patient's phone rings, or they talk
        restarted = await started(make_router())
        done, _ = await wait_task(restarted, number, closed, 90)
        reports = phones.report()
    assert done["close_reason"] == "connected" and done["attempts"] == 1, done
    assert reports["patients"].invites == 1  # never dialled twice
    assert reports["op1002"].invites == 1  # nor the operator rung again
    log = restarted.log_path.read_text(errors="replace")
    assert f"callback {task['id']}: attempt 1 followed after a restart" in log
    # one row a ring: the restarted router's record of the answers added none
    assert rings(restarted, task["id"]) == [
        ("operator", "op1002", "answered"),
        ("patient", "op1002", "answered"),
    ]


async def test_an_operator_who_does_not_answer_is_no_attempt_and_the_patient_is_not_dialled(  # type: ignore[no-untyped-def]
    make_router,
) -> None:
    number = "+79990008004"
    router = await started(make_router())
    phones_spec = {
        "op1001": Behaviour("never"),
        "op1002": Behaviour("never"),
        "patients": Behaviour("answer", hold=3),
    }
    async with Phones(phones_spec) as phones:
        task = await abandon(router, number)
        await pause(router, "op1002", state="available")
        # op1002 rings out (6 s) and is tried again while the task is due: a no-answer
        # is no attempt, the claim goes back
        await phones.wait_for_invites("op1002", 2, 40)
        reports = phones.report()
        now = await router.get(f"/api/callbacks/{task['id']}")
    assert reports["patients"].invites == 0
    assert now["attempts"] == 0 and now["state"] in ("open", "claimed"), now
    assert now["last_outcome"] is None
    answered = [r for r in rings(router, task["id"]) if r[2] == "answered"]
    assert answered == []
    assert rings(router, task["id"])[0] == ("operator", "op1002", "no_answer")
