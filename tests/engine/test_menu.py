"""A line with a menu: the caller's key decides the queue (the rules' own path, not the
last resort)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)

MENU_RULES = f"""
skills:
  paid: Paid services
  results: Test results
operators:
  - {{id: op1001, name: Anna, endpoint: PJSIP/op1001, team: front, skills: {{paid: 3}}}}
  - {{id: op1002, name: Maria, endpoint: PJSIP/op1002, team: front, skills: {{results: 3}}}}
lines:
  - id: main-line
    numbers: ["{DID}"]
    routes: main
routes:
  main:
    - name: everyone
      then: {{menu: main}}
menus:
  main:
    prompt: clinic-main-menu
    timeout_s: 4
    retries: 0
    options:
      - key: "1"
        label: Paid
        prompt: clinic-opt-paid
        then: {{queue: paid}}
      - key: "2"
        label: Results
        prompt: clinic-opt-results
        then: {{queue: results}}
queues:
  paid:
    steps:
      - {{after_s: 0, skills: [paid]}}
  results:
    steps:
      - {{after_s: 0, skills: [results]}}
"""


@pytest.mark.parametrize(("key", "operator"), [("1", "op1001"), ("2", "op1002")])
async def test_the_key_pressed_picks_the_queue(
    fake: FakeAsterisk, tmp_path: Path, key: str, operator: str
) -> None:
    (tmp_path / "rules.yaml").write_text(MENU_RULES, encoding="utf-8")
    router = RouterUnderTest(fake, tmp_path)
    await router.start()
    try:
        caller = fake.caller_arrives(DID, "79990001122")
        await fake.until(lambda: fake.requests("POST", f"/channels/{caller}/play"))
        fake.press(caller, key)  # during the menu prompt: it stops at once
        leg = await talk_then_hang_up(fake, caller)
        assert leg in fake.legs_to(f"PJSIP/{operator}")
        assert len(fake.world.originated) == 1
        await router.flushed()
        call = router.call(caller)
        assert (call["outcome"], call["operator_id"]) == ("answered", operator)
        assert "menu" in router.journey(caller)
    finally:
        await router.stop()
