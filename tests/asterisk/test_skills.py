"""Issue 5, real Asterisk + SIPp: 6 operators with different skills and levels, 30 calls
needing different skills; each is answered by an operator the rules make eligible (the
same `eligible_operators` that `simulate` prints)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from router.config.rules import load_rules
from router.domain.queue_steps import eligible_operators
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sipp import Behaviour, Phones, place_call

pytestmark = pytest.mark.asterisk

DID = "74952232222"
OPS = ("op1001", "op1002", "op1003", "op1004", "op1005", "op1006")
RULES = """
skills: {paid: Paid, dms: DMS, dentistry: Dentistry}
operators:
  - {id: op1001, name: A, endpoint: PJSIP/op1001, skills: {paid: 5}}
  - {id: op1002, name: B, endpoint: PJSIP/op1002, skills: {paid: 2, dms: 5}}
  - {id: op1003, name: C, endpoint: PJSIP/op1003, skills: {dentistry: 5, paid: 1}}
  - {id: op1004, name: D, endpoint: PJSIP/op1004, skills: {dms: 3}}
  - {id: op1005, name: E, endpoint: PJSIP/op1005, skills: {dentistry: 2, dms: 4}}
  - {id: op1006, name: F, endpoint: PJSIP/op1006, skills: {paid: 4, dentistry: 4}}
lines:
  - {id: main, numbers: ["74952232222"], routes: main}
routes:
  main:
    - {name: all, then: {menu: main}}
menus:
  main:
    prompt: clinic-main-menu
    timeout_s: 3
    options:
      - {key: "1", label: Paid, then: {queue: paid}}
      - {key: "3", label: DMS, then: {queue: dms}}
      - {key: "6", label: Dentistry, then: {queue: dentistry}}
queues:
  paid: {max_wait_s: 60, steps: [{after_s: 0, skills: [paid], min_level: 4}]}
  dms:
    {max_wait_s: 60, strategy: fewest_calls, steps: [{after_s: 0, skills: [dms], min_level: 4}]}
  dentistry:
    max_wait_s: 60
    strategy: best_skill
    steps: [{after_s: 0, skills: [dentistry], min_level: 2}]
"""
KEYS = {"1": "paid", "3": "dms", "6": "dentistry"}


async def test_thirty_calls_each_answered_by_an_eligible_operator(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    rules = load_rules(path)
    eligible = {
        key: {op.id for op in eligible_operators(rules.queues[q], 0, rules.operators)}
        for key, q in KEYS.items()
    }
    assert eligible == {
        "1": {"op1001", "op1006"},
        "3": {"op1002", "op1005"},
        "6": {"op1003", "op1005", "op1006"},
    }
    plan = [(f"7999000{5000 + n}", "136"[n % 3]) for n in range(30)]
    router = RouterProcess(tmp_path, rules=path)
    await router.start()
    try:
        async with Phones({op: Behaviour("answer", answer_after=0.5, hold=1) for op in OPS}):

            async def stream(part: list[tuple[str, str]]) -> list[bool]:
                results = []
                for caller, key in part:
                    result = await place_call(caller, DID, dtmf=key, dtmf_delay=1.5, timeout=60)
                    results.append(result.ok)
                return results

            oks = await asyncio.gather(*(stream(plan[i::3]) for i in range(3)))
        assert all(ok for part in oks for ok in part)
        calls = await router.wait_calls(30, timeout=60)
        by_caller = {c["caller"]: c for c in calls}
        for caller, key in plan:
            call = by_caller["+" + caller]
            assert call["outcome"] == "answered", call
            assert call["operator_id"] in eligible[key], (key, call["operator_id"])
        served = {c["operator_id"] for c in calls}
        assert served >= {"op1001", "op1002", "op1005"}  # every queue was served
        assert not served & {"op1004"}  # dms 3 is under the level 4 the queue needs
    finally:
        await router.stop()
