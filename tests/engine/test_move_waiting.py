"""A supervisor moves a waiting caller to another queue or to a named operator: the
call's own coroutine stops waiting where it is and waits for the new target, keeping its
place in line; the journey says who moved it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from router.domain.operators import Presence
from router.engine.engine import Engine
from router.engine.moves import MoveRequest
from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)

RULES = f"""
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
      then: {{queue: paid}}
queues:
  paid:
    steps:
      - {{after_s: 0, skills: [paid]}}
  results:
    steps:
      - {{after_s: 0, skills: [results]}}
"""


async def _waiting_in_paid(fake: FakeAsterisk, router: RouterUnderTest) -> tuple[Engine, str]:
    """op1001 (the only paid operator) is paused; op1002 (results) is free: a caller
    for paid waits."""
    engine = await router.start()
    engine.ctx.board.set("op1001", Presence.PAUSED, "lunch")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: engine.ctx.room.is_waiting(caller))
    return engine, caller


def _waits(router: RouterUnderTest, caller: str) -> list[tuple[str, str]]:
    rows = router.rows(
        "select data from call_events where call_id = ? and kind = 'waiting' order by id",
        caller,
    )
    return [(json.loads(r[0])["for"], json.loads(r[0])["since"]) for r in rows]


def _event(router: RouterUnderTest, caller: str, kind: str) -> dict[str, object]:
    rows = router.rows(
        "select data from call_events where call_id = ? and kind = ? order by id", caller, kind
    )
    assert len(rows) == 1, f"{kind}: {rows}"
    data: dict[str, object] = json.loads(rows[0][0])
    return data


@pytest.mark.parametrize(
    ("request_", "waited_for"),
    [
        (MoveRequest("sam", queue="results"), "queue results"),
        (MoveRequest("sam", operator="op1002"), "operator op1002"),
    ],
)
async def test_a_moved_caller_is_offered_to_the_new_targets_operator_keeping_their_place(
    fake: FakeAsterisk, tmp_path: Path, request_: MoveRequest, waited_for: str
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    router = RouterUnderTest(fake, tmp_path)
    try:
        engine, caller = await _waiting_in_paid(fake, router)
        assert not fake.world.originated  # nobody may take a paid caller now
        room, board = engine.ctx.room, engine.ctx.board
        board.set("op1002", Presence.PAUSED, "coffee")  # the move's wait is seen first
        (before,) = room.in_serving_order()
        assert engine.move_waiting(caller, request_)
        await fake.until(lambda: len(_waits(router, caller)) == 2 and room.is_waiting(caller))
        (after,) = room.in_serving_order()
        assert after.since == before.since  # the place in line is kept
        assert after.eligible == {"op1002"} != before.eligible
        board.set("op1002", Presence.AVAILABLE)
        leg = await talk_then_hang_up(fake, caller)
        assert leg in fake.legs_to("PJSIP/op1002")
        await router.flushed()
        call = router.call(caller)
        assert (call["outcome"], call["operator_id"]) == ("answered", "op1002")
        moved = _event(router, caller, "moved")
        assert (moved["by"], moved["from"]) == ("sam", "queue paid")
        (first, first_since), (then, then_since) = _waits(router, caller)
        assert (first, then) == ("queue paid", waited_for)
        # Journaled too, for a restart (each record derives it from the wall clock anew).
        kept = datetime.fromisoformat(then_since) - datetime.fromisoformat(first_since)
        assert abs(kept.total_seconds()) < 0.01
    finally:
        await router.stop()


async def test_a_move_to_what_is_not_there_is_refused_and_the_caller_waits_on(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    router = RouterUnderTest(fake, tmp_path)
    try:
        engine, caller = await _waiting_in_paid(fake, router)
        assert engine.move_waiting(caller, MoveRequest("sam", queue="dentistry"))
        await fake.until(lambda: "move_refused" in router.journey(caller))
        assert engine.ctx.room.is_waiting(caller)
        assert not engine.move_waiting("no-such-call", MoveRequest("sam", queue="results"))
        engine.ctx.board.set("op1001", Presence.AVAILABLE)
        await talk_then_hang_up(fake, caller)
        await router.flushed()
        assert router.call(caller)["operator_id"] == "op1001"
        assert "dentistry" in str(_event(router, caller, "move_refused")["why"])
    finally:
        await router.stop()
