"""Issue 13 item 7, the engine against the fake Asterisk: a bridge DELETE lost to an
overload is retried (and swept by the next reconcile), a caller who hangs up as
voicemail starts has abandoned, and the "press 5" offer never overlaps a ring."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from router.domain.dispatch import Place
from router.domain.wait_resume import KEEP_PLACE_MISS
from router.storage.models import MissInput
from router.storage.store import Store
from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)

VOICEMAIL_RULES = f"""
skills: {{paid: Paid}}
operators:
  - {{id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {{paid: 3}}}}
lines:
  - {{id: main, numbers: ["{DID}"], routes: main}}
routes:
  main:
    - {{name: leave-a-message, then: {{voicemail: {{}}}}}}
"""


async def test_a_bridge_delete_that_times_out_is_retried(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    # Longer than the client's 0.5 s request timeout, and then not carried out.
    fault = fake.fail("DELETE", r"^/bridges/cr-", 503, delay=0.7, times=2)
    caller = fake.caller_arrives(DID, "79990001122")
    await talk_then_hang_up(fake, caller)  # waits until nothing is left in Asterisk
    assert fault.hits == 2
    assert len(fake.requests("DELETE", "/bridges/cr-")) == 3
    await router.flushed()
    assert router.call(caller)["outcome"] == "answered"


async def test_reconcile_deletes_a_bridge_the_call_gave_up_on(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    fault = fake.fail("DELETE", r"^/bridges/cr-", 503, delay=0.6, times=4)
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.bridged(caller))
    fake.caller_hangs_up(caller)
    await fake.until(lambda: fault.hits == 4, timeout=15)  # every attempt of the call
    await router.flushed()
    assert router.call(caller)["outcome"] == "answered"
    assert fake.leftovers() == [f"bridge cr-{caller}"]
    await fake.drop_socket()  # the next (re)connect sweeps it
    await fake.until(lambda: not fake.leftovers())


async def test_a_caller_who_hangs_up_as_voicemail_starts_has_abandoned(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(VOICEMAIL_RULES, encoding="utf-8")
    router = RouterUnderTest(fake, tmp_path)
    await router.start()
    try:
        recording = fake.hold("POST", r"/record")
        caller = fake.caller_arrives(DID, "79990001122")
        await fake.until(lambda: recording.hits == 1)
        fake.caller_hangs_up(caller)
        assert recording.gate is not None
        recording.gate.set()  # Asterisk answers 404: the channel is gone
        await fake.until(lambda: not fake.leftovers())
        await router.flushed()
        await fake.until(lambda: router.call(caller)["outcome"] is not None)
        assert router.call(caller)["outcome"] == "abandoned"
        assert router.misses(caller) == ["abandoned_in_ivr"]  # never waited for anyone
    finally:
        await router.stop()


async def test_no_press_5_offer_when_an_operator_is_rung_at_once(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    assert router.engine is not None
    ctx = router.engine.ctx
    ctx.settings = replace(ctx.settings, keep_place_key="5")

    def keep_place(number: str, place: Place) -> None:
        raise AssertionError("nobody pressed 5")

    ctx.keep_place = keep_place
    caller = fake.caller_arrives(DID, "79990001122")
    await talk_then_hang_up(fake, caller)
    # The only prompt a waiting caller would hear is the offer; an operator was free.
    assert fake.requests("POST", f"/channels/{caller}/play") == []


async def test_an_operator_who_answered_while_the_router_was_down_is_connected(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """Issue 13 item 2, a kill at the moment of a ring: the answer came while nobody
    listened (its StasisStart was lost); the restarted router connects that operator."""
    caller, endpoint, leg = await stopped_while_ringing(fake, tmp_path)
    fake.answer(leg)  # nobody hears it
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        await talk_then_hang_up(fake, caller)
        await second.flushed()
        call = second.call(caller)
        assert (call["outcome"], call["operator_id"]) == ("answered", endpoint[len("PJSIP/") :])
        assert len(fake.world.originated) == 1 and second.misses(caller) == []
        assert second.engine is not None
        status = second.engine.ctx.board.get(call["operator_id"])
        assert status.presence.value != "ringing"
    finally:
        await second.stop()


async def test_an_adopted_ring_that_rings_out_passes_to_the_next_operator(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    caller, rung_endpoint, rung_leg = await stopped_while_ringing(fake, tmp_path)
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        fake.ring_out(rung_leg)
        await fake.until(lambda: len(fake.world.originated) == 2)
        other_endpoint, other_leg = fake.world.originated[1]
        assert other_endpoint != rung_endpoint
        fake.answer(other_leg)
        await talk_then_hang_up(fake, caller)
        await second.flushed()
        rung, other = (e.removeprefix("PJSIP/") for e in (rung_endpoint, other_endpoint))
        assert second.rings(caller) == [(rung, "no_answer"), (other, "answered")]
        assert second.call(caller)["outcome"] == "answered"
    finally:
        await second.stop()


async def stopped_while_ringing(fake: FakeAsterisk, folder: Path) -> tuple[str, str, str]:
    """A router rings an operator for a caller and is stopped (SIGTERM) meanwhile: the
    caller, the endpoint rung and its leg, all left in Asterisk."""
    fake.phone("PJSIP/op1001", "manual")
    fake.phone("PJSIP/op1002", "manual")
    first = RouterUnderTest(fake, folder)
    await first.start()
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    endpoint, leg = fake.world.originated[0]
    await first.stop()  # SIGTERM: the call stays in Asterisk
    assert fake.channel(caller).alive and not fake.in_fallback(caller)
    return caller, endpoint, leg


MENU_RULES = f"""
skills: {{paid: Paid}}
operators:
  - {{id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {{paid: 3}}}}
lines:
  - {{id: main, numbers: ["{DID}"], routes: main}}
routes:
  main:
    - {{name: everyone, then: {{menu: main}}}}
menus:
  main:
    prompt: clinic-main-menu
    timeout_s: 1
    retries: 0
    default: "1"
    options:
      - {{key: "1", label: Paid, prompt: clinic-opt-paid, then: {{queue: paid}}}}
      - {{key: "2", label: Other, prompt: clinic-opt-other, then: {{queue: paid}}}}
queues:
  paid:
    max_wait_s: 60
    steps: [{{after_s: 0, skills: [paid]}}]
"""


async def test_a_caller_adopted_in_the_menus_starts_their_wait_after_the_menu(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """Issue 13 item 2: no wait was recorded (the caller was in the menu), so the menu
    plays again and the queue's budget counts from when the queue is reached."""
    (tmp_path / "rules.yaml").write_text(MENU_RULES, encoding="utf-8")
    fake.phone("PJSIP/op1001", "manual")
    first = RouterUnderTest(fake, tmp_path)
    await first.start()
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.requests("POST", f"/channels/{caller}/play"))
    await first.stop()
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        await fake.until(lambda: fake.world.originated)  # the queue wait has begun
        await second.flushed()
        steps = {
            kind: (at, json.loads(data))
            for kind, at, data in second.rows(
                "select kind, at, data from call_events where call_id = ? order by id", caller
            )
        }
        adopted_at = datetime.fromisoformat(steps["adopted"][0]).replace(tzinfo=UTC)  # UTC
        assert steps["adopted"][1]["why"].startswith("no wait recorded")
        wait_began = datetime.fromisoformat(steps["waiting"][1]["step_since"])
        # The menu (1 s without a key) came between the adoption and the wait.
        assert (wait_began - adopted_at).total_seconds() >= 0.9
    finally:
        await second.stop()


NAMED_RULES = f"""
skills: {{paid: Paid}}
operators:
  - {{id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {{paid: 3}}}}
  - {{id: op1002, name: Boris, endpoint: PJSIP/op1002, skills: {{paid: 3}}}}
lines:
  - {{id: main, numbers: ["{DID}"], routes: main}}
routes:
  main:
    - {{name: anna, then: {{operator: {{id: op1001, wait_s: 60, otherwise: {{queue: paid}}}}}}}}
queues:
  paid:
    max_wait_s: 60
    steps: [{{after_s: 0, skills: [paid]}}]
"""


async def test_a_named_operator_wait_is_not_charged_to_the_queue_after_a_restart(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """The caller waited for a named operator, the router restarted while that operator
    rang, the adopted ring ran out: the queue that comes next gets its whole budget (its
    wait starts when it is reached), while the caller keeps their place in line."""
    (tmp_path / "rules.yaml").write_text(NAMED_RULES, encoding="utf-8")
    fake.phone("PJSIP/op1001", "manual")
    fake.phone("PJSIP/op1002", "manual")
    first = RouterUnderTest(fake, tmp_path)
    await first.start()
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    _, leg = fake.world.originated[0]
    await asyncio.sleep(1.5)  # the personal wait the queue must not be charged with
    await first.stop()
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        fake.ring_out(leg)  # the adopted ring of op1001 ends unanswered
        await fake.until(lambda: len(fake.world.originated) >= 2)  # the queue rings op1002
        assert fake.world.originated[1][0] == "PJSIP/op1002"
        await second.flushed()
        steps = [
            (kind, at, json.loads(data))
            for kind, at, data in second.rows(
                "select kind, at, data from call_events where call_id = ? order by id", caller
            )
        ]
        waits = [data for kind, _, data in steps if kind == "waiting"]
        first_wait, queue_wait = waits[0], waits[-1]
        assert queue_wait["target"] == {"kind": "queue", "queue": "paid"}
        adopted_at = next(at for kind, at, _ in steps if kind == "adopted")
        adopted = datetime.fromisoformat(adopted_at).replace(tzinfo=UTC)
        # The queue's budget counts from when it was reached, after the adoption ...
        assert datetime.fromisoformat(queue_wait["step_since"]) >= adopted
        # ... and the place in line is still the first wait's (wall and monotonic clocks
        # are converted on the way, so to the millisecond, not the microsecond).
        place = datetime.fromisoformat(queue_wait["since"])
        assert abs((place - datetime.fromisoformat(first_wait["since"])).total_seconds()) < 0.05
    finally:
        await second.stop()


async def test_a_kept_place_in_the_ledger_ends_the_wait_after_a_restart(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """The router died after the caller's "keep my place" miss reached the ledger but
    before the journey's keep_place event did: the restarted router sees the ledger and
    does not put the caller back in the wait (one contact: the callback, not both)."""
    caller, endpoint, leg = await stopped_while_ringing(fake, tmp_path)
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'router.db'}", migrate=False)
    try:
        now = datetime.now(UTC)
        await store.callbacks.record_miss(
            MissInput(
                call_id=caller,
                line="main",
                number_e164="+79990001122",
                patient_id=None,
                reason=KEEP_PLACE_MISS,
                waited_s=5.0,
                missed_at=now,
                due_at=None,
                create_task=True,
                place_at=now - timedelta(seconds=5),
                keep_place=True,
            )
        )
    finally:
        await store.close()
    fake.phone(endpoint, "manual")
    second = RouterUnderTest(fake, tmp_path)
    await second.start()
    try:
        await fake.until(lambda: second.call(caller)["outcome"] is not None)
        assert second.call(caller)["outcome"] == "callback"
        assert len(fake.world.originated) == 1  # nobody rung again for them
        assert second.misses(caller) == [KEEP_PLACE_MISS]
        await fake.until(lambda: not fake.channel(leg).alive)  # the old ring is stopped
        tasks = second.rows(
            "select count(*) from callback_tasks where state in ('open', 'claimed')"
        )
        assert tasks == [(1,)]
    finally:
        await second.stop()
