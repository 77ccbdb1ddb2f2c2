"""Issue 18, real Asterisk + SIPp: AGI-mode operators' presence from app_queue's AMI
events (router/ami/presence.py). An operator who lets the phone ring out is paused over
AMI and app_queue stops ringing them; a pause set elsewhere (QueuePause from another AMI
client, as a panel would) shows with its reason, also one made while the router was
stopped; an unpause on the PBX's CLI shows ready; a pause from the router's API reaches
app_queue."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from router.ami.connection import AmiConnection
from router.config.rules import load_rules
from sip_test_harness.instance import current
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox_agi import (
    AGI_DID,
    AGI_PORT,
    apply_queues,
    queue_line,
    queue_line_until,
    unpause_all,
)
from sip_test_harness.sandbox_config import AMI_PORT, ARI_PASSWORD, ARI_USER
from sip_test_harness.sipp import Behaviour, Phones, place_call

pytestmark = pytest.mark.asterisk

RULES = Path(__file__).resolve().parents[1] / "data" / "agi" / "rules.yaml"
HOST = current().host
AGI_SETTINGS = f"agi:\n  enabled: true\n  host: {HOST}\n  port: {AGI_PORT}\n  ami_host: {HOST}\n"
RING_S = 5


@pytest.fixture
async def router(sandbox, tmp_path: Path) -> AsyncIterator[RouterProcess]:  # type: ignore[no-untyped-def]
    apply_queues(sandbox, load_rules(RULES), ring_timeout_s=RING_S)  # all unpaused
    router = RouterProcess(
        tmp_path,
        rules=RULES,
        extra_settings=AGI_SETTINGS,
        ring_timeout_s=RING_S,
        pause_after_no_answers=2,
    )
    try:
        await router.start()
        yield router
    finally:
        await router.stop()
        sandbox.hangup_all()
        unpause_all(sandbox, load_rules(RULES))


async def operator(router: RouterProcess, op_id: str, predicate: Any) -> dict[str, Any]:
    body = await router.wait_get(
        "/api/operators",
        lambda b: any(o["id"] == op_id and predicate(o) for o in b["operators"]),
        10,
    )
    return next(o for o in body["operators"] if o["id"] == op_id)


async def history(
    router: RouterProcess, op_id: str, last: tuple[str, str | None]
) -> list[tuple[str, str | None]]:
    """The operator's rows of `operator_states`, oldest first, once `last` is written."""
    rows: list[tuple[str, str | None]] = []
    for _ in range(50):
        with sqlite3.connect(router.db_path) as db:
            found = db.execute(
                "SELECT state, reason FROM operator_states WHERE operator_id = ? ORDER BY at, id",
                (op_id,),
            ).fetchall()
        rows = [(str(state), reason) for state, reason in found]
        if rows and rows[-1] == last:
            break
        await asyncio.sleep(0.1)
    return rows


async def test_an_operator_who_lets_it_ring_out_is_paused_over_ami(router, sandbox) -> None:  # type: ignore[no-untyped-def]
    # op1003 is clinic-dms's only member; its phone rings until cancelled
    async with Phones({"op1003": Behaviour("never")}) as running:
        await operator(router, "op1003", lambda o: o["state"] == "available")
        result = await place_call(
            "79990004001",
            AGI_DID,
            dtmf="3",
            dtmf_delay=1.5,
            hangup_after=3 * RING_S + 6,
            timeout=60,
        )
        invites_when_paused = running.report()["op1003"].invites
    assert result.ok, result.describe()
    op = await operator(router, "op1003", lambda o: o["state"] == "paused")
    assert op["reason"] == "no_answer" and op["consecutive_no_answers"] == 2
    # app_queue has the pause too: it rang op1003 twice, then no more
    assert invites_when_paused == 2, running.report()["op1003"]
    line = queue_line(sandbox, "clinic-dms", "PJSIP/op1003")
    assert "paused" in line and "no_answer" in line, line
    # operator_states, which the reports read, has the same history as in ARI mode
    states = await history(router, "op1003", ("paused", "no_answer"))
    assert states[-6:] == [
        ("available", None),
        ("ringing", None),
        ("available", None),
        ("ringing", None),
        ("available", None),
        ("paused", "no_answer"),
    ], states


async def queue_pause_elsewhere(fields: dict[str, str]) -> None:
    """QueuePause from another AMI client (a PBX panel, a wallboard's pause button)."""
    panel = AmiConnection(HOST, AMI_PORT, ARI_USER, ARI_PASSWORD, lambda _e: None)
    running = asyncio.create_task(panel.run())
    try:
        async with asyncio.timeout(10):
            await panel.connected.wait()
        await panel.action("QueuePause", fields)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_pause_from_elsewhere_shows_with_its_reason_and_unpause_shows_ready(
    router: RouterProcess, sandbox: Any
) -> None:
    await operator(router, "op1002", lambda o: o["state"] == "available")
    await queue_pause_elsewhere({"Interface": "PJSIP/op1002", "Paused": "true", "Reason": "lunch"})
    op = await operator(router, "op1002", lambda o: o["state"] == "paused")
    assert op["reason"] == "lunch"
    assert "lunch" in queue_line(sandbox, "clinic-paid", "PJSIP/op1002")
    # unpaused by the PBX's admin on its CLI (every queue op1002 is in)
    sandbox.cli("queue unpause member PJSIP/op1002")
    op = await operator(router, "op1002", lambda o: o["state"] == "available")
    assert op["reason"] is None
    assert "paused" not in queue_line(sandbox, "clinic-paid", "PJSIP/op1002")


async def test_a_pause_from_the_api_reaches_app_queue(router, sandbox) -> None:  # type: ignore[no-untyped-def]
    status, _ = await router.request(
        "PUT", "/api/operators/op1001/state", {"state": "paused", "reason": "training"}
    )
    assert status == 200
    line = await queue_line_until(sandbox, "clinic-paid", "PJSIP/op1001", lambda x: "training" in x)
    assert "paused" in line and "training" in line, line
    status, _ = await router.request("PUT", "/api/operators/op1001/state", {"state": "available"})
    assert status == 200
    line = await queue_line_until(
        sandbox, "clinic-paid", "PJSIP/op1001", lambda x: "paused" not in x
    )
    assert "paused" not in line, line
    op = await operator(router, "op1001", lambda o: o["state"] == "available")
    assert op["reason"] is None


async def test_a_pause_made_while_the_router_was_away_shows_after_its_start(
    router: RouterProcess, sandbox: Any
) -> None:
    await router.stop()
    await queue_pause_elsewhere({"Interface": "PJSIP/op1004", "Paused": "true", "Reason": "away"})
    await router.start()  # its AMI login reads the members (QueueStatus)
    op = await operator(router, "op1004", lambda o: o["state"] == "paused")
    assert op["reason"] == "away"
    # op1004 (paid 1) is a member of the last resort's queue only
    assert "away" in queue_line(sandbox, "clinic-skills-any-l1", "PJSIP/op1004")
