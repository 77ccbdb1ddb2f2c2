"""`make demo`: the sandbox Asterisk, the router on the embedded defaults, scripted calls.

Prints one line per call: caller, route, operator, wait, outcome, as the router's
journeys record them (not as the script intended: what you see is what happened).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sip_test_harness.lock import sandbox_lock
from sip_test_harness.router_process import REPO, RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.scenarios import Behaviour
from sip_test_harness.sipp import Phones, place_call

DEMO_DIR = REPO / ".cache" / "demo"
MOSCOW = "74952232222"
PHONES = {
    "op1001": Behaviour("answer", answer_after=1),
    "op1002": Behaviour("never"),  # a phone nobody picks up
    "op1003": Behaviour("answer", answer_after=1),
    "op1004": Behaviour("busy"),  # on another line: 486 Busy
    "op1005": Behaviour("answer", answer_after=1),
    "op1006": Behaviour("answer", answer_after=1),
    "op1007": Behaviour("answer", answer_after=2),
    "op1008": Behaviour("answer", answer_after=1),
}
PATIENTS = (
    "patient_id,name,phones,assigned_operator,tags\np-1001,Анна Петрова,+79161234567,op1006,dms\n"
)


@dataclass(frozen=True)
class Script:
    caller: str
    did: str
    note: str
    hangup_after: float = 3.0


CALLS = (
    Script("79990000001", MOSCOW, "new caller"),
    Script(
        "89990000002",
        MOSCOW,
        "new caller; the first phone rings out (5 s), the next answers",
        hangup_after=10,
    ),
    Script("+79161234567", MOSCOW, "patient with an assigned manager"),
    Script("79990000004", "+" + MOSCOW, "dialled with +; a busy phone is skipped"),
    Script("79990000005", MOSCOW, "hangs up while an operator's phone rings", hangup_after=1.0),
    Script("anonymous", MOSCOW, "withheld number"),
)


def _route(call: dict[str, Any]) -> str:
    steps = {s["kind"]: s["data"] for s in call["journey"]}
    identified = steps.get("identified", {})
    if identified.get("assigned_operator"):
        route = f"assigned manager {identified['assigned_operator']}"
    elif identified.get("patient"):
        route = f"patient {identified['patient']}, longest idle"
    else:
        route = "unknown caller, longest idle"
    skipped = [a for a in call["tried_operators"] if a != call["operator_id"]]
    if skipped:
        route += f" (rang {', '.join(skipped)} first)"
    return route


def _wait(call: dict[str, Any]) -> str:
    start = datetime.fromisoformat(call["started_at"])
    end_text = call["answered_at"] or call["ended_at"]
    if not end_text:
        return "-"
    return f"{(datetime.fromisoformat(end_text) - start).total_seconds():.1f}s"


def _line(script: Script, call: dict[str, Any]) -> str:
    caller = call["caller"] or f"{script.caller} (unknown)"
    return (
        f"{caller:<24} {_route(call):<52} operator {call['operator_id'] or '-':<7} "
        f"wait {_wait(call):>5}  {call['outcome']}"
    )


async def _run(router: RouterProcess) -> int:
    async with Phones(PHONES):
        for n, script in enumerate(CALLS, 1):
            print(f"call {n}: {script.caller} -> {script.did}: {script.note}", file=sys.stderr)
            result = await place_call(
                script.caller, script.did, hangup_after=script.hangup_after, timeout=40
            )
            if not result.ok:
                print(f"  SIP side: {result.describe()}", file=sys.stderr)
            await asyncio.sleep(0.5)  # let the operator phone settle before the next call
    calls = list(reversed(await router.wait_calls(len(CALLS), timeout=30)))
    print()
    print(f"{'caller':<24} {'route':<52} {'operator':<16} {'wait':<10}  outcome")
    for script, call in zip(CALLS, calls, strict=False):
        print(_line(script, call))
    lost = [c for c in calls if not c["outcome"]]
    return 1 if lost or len(calls) != len(CALLS) else 0


async def demo() -> int:
    sandbox = Sandbox()
    was_up = sandbox.status().running
    await asyncio.to_thread(sandbox.up)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    router = RouterProcess(DEMO_DIR, rules=REPO / "config" / "rules.yaml", ring_timeout_s=5)
    (DEMO_DIR / "patients.csv").write_text(PATIENTS, encoding="utf-8")
    imported = router.cli(
        "patients", "import", str(DEMO_DIR / "patients.csv"), "--config", str(router.config)
    )
    print(imported.stdout.strip(), file=sys.stderr)
    try:
        await router.start()
        print(f"router up (log: {router.log_path})", file=sys.stderr)
        return await _run(router)
    finally:
        await router.stop()
        if not was_up:
            await asyncio.to_thread(sandbox.down)


def main() -> int:
    with sandbox_lock():
        return asyncio.run(demo())
