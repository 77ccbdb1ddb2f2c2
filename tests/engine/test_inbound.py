"""Inbound calls through the real engine against the fake Asterisk: the everyday paths.

Each scenario checks the product's promises: the caller is served (or handed to the
fallback), every miss is in the ledger exactly once, nobody is rung twice for one caller,
and nothing the router created is left in Asterisk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import DID, RouterUnderTest
from tests.engine.steps import one_talking_one_waiting, talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_a_caller_reaches_an_operator(fake: FakeAsterisk, router: RouterUnderTest) -> None:
    caller = fake.caller_arrives(DID, "79990001122")
    leg = await talk_then_hang_up(fake, caller)
    assert leg in fake.legs_to("PJSIP/op1001") + fake.legs_to("PJSIP/op1002")
    assert fake.channel(caller).answered_by_router
    await router.flushed()
    call = router.call(caller)
    assert (call["outcome"], call["caller_e164"]) == ("answered", "+79990001122")
    assert router.misses(caller) == []
    assert [k for k in router.journey(caller) if k in ("arrived", "connected")] == [
        "arrived",
        "connected",
    ]


async def test_no_answer_passes_to_the_next_operator(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    fake.phone("PJSIP/op1001", "manual")
    fake.phone("PJSIP/op1002", "manual")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: fake.world.originated)
    first_endpoint, first_leg = fake.world.originated[0]
    fake.ring_out(first_leg)
    await fake.until(lambda: len(fake.world.originated) == 2)
    second_endpoint, second_leg = fake.world.originated[1]
    assert second_endpoint != first_endpoint  # never the same operator twice
    fake.answer(second_leg)
    await talk_then_hang_up(fake, caller)
    await router.flushed()
    first, second = (e.removeprefix("PJSIP/") for e in (first_endpoint, second_endpoint))
    assert router.rings(caller) == [(first, "no_answer"), (second, "answered")]
    assert router.call(caller)["outcome"] == "answered"
    assert len(fake.world.originated) == 2


async def test_ring_out_by_asterisks_own_timeout(fake: FakeAsterisk, tmp_path: Path) -> None:
    """The originate's own timeout ends the ring (ChannelDestroyed cause 19, no Dial event)."""
    fake.phone("PJSIP/op1001", "never")
    router = RouterUnderTest(fake, tmp_path, operators=("op1001", "op1002"))
    await router.start()
    try:
        fake.phone("PJSIP/op1002", "manual")
        caller = fake.caller_arrives(DID, "79990001122")
        # Whoever rings first, op1002 answers when rung; op1001 always rings out.
        await fake.until(lambda: fake.legs_to("PJSIP/op1002"))
        fake.answer(fake.legs_to("PJSIP/op1002")[0])
        await talk_then_hang_up(fake, caller)
        await router.flushed()
        assert ("op1001", "answered") not in router.rings(caller)
        assert router.rings(caller)[-1] == ("op1002", "answered")
        assert len(fake.legs_to("PJSIP/op1001")) <= 1
    finally:
        await router.stop()


async def test_caller_who_hangs_up_while_waiting_is_one_miss(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        first, second = await one_talking_one_waiting(fake)
        fake.caller_hangs_up(second)
        fake.caller_hangs_up(first)
        await fake.until(lambda: not fake.leftovers())
        await router.flushed()
        assert router.misses(second) == ["abandoned"]
        assert router.misses(first) == []
        assert router.call(second)["outcome"] == "abandoned"
        assert fake.legs_to("PJSIP/op1001") == [f"{first}-op1"]  # the waiting caller rang nobody
    finally:
        await router.stop()


async def test_duplicated_stasis_start_makes_one_call(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    fake.duplicate_next("StasisStart", times=2)  # the caller's, then the operator leg's
    caller = fake.caller_arrives(DID, "79990001122")
    await talk_then_hang_up(fake, caller)
    await router.flushed()
    starts = [e["channel"]["id"] for e in fake.world.sent if e["type"] == "StasisStart"]
    assert starts.count(caller) == 2  # the duplicate did reach the router
    assert len(fake.world.originated) == 1
    assert [r[0] for r in router.rows("select count(*) from calls")] == [1]
    assert router.call(caller)["outcome"] == "answered"
    assert fake.requests("POST", "/answer") == [f"/channels/{caller}/answer"]


async def test_a_caller_nobody_can_take_hears_why_before_the_hang_up(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    """Every operator tried (both phones busy): the miss is recorded once, then the caller
    hears `routing`'s "nobody available" prompt, then the hang-up. Before, the router
    hung up in silence a few milliseconds after answering."""
    fake.phone("PJSIP/op1001", "busy")
    fake.phone("PJSIP/op1002", "busy")
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: not fake.channel(caller).alive)
    log = fake.world.log
    play = log.index(("POST", f"/channels/{caller}/play"))
    hangup = next(
        i for i, (m, p) in enumerate(log) if m == "DELETE" and p.startswith(f"/channels/{caller}")
    )
    assert play < hangup, "hung up without a word"
    await router.flushed()
    assert len(router.misses(caller)) == 1
    assert router.call(caller)["outcome"] == "no_operator"
    played = router.rows(
        "select json_extract(data, '$.media') from call_events where call_id = ? and kind = ?",
        caller,
        "played",
    )
    assert played == [("sound:vm-nobodyavail",)]
    assert not fake.leftovers()


async def test_a_refused_no_operator_prompt_does_not_hold_the_hang_up(
    fake: FakeAsterisk, router: RouterUnderTest
) -> None:
    """Asterisk refusing the "nobody available" prompt (500) costs a log line: the caller
    is still hung up at once, as `no_operator`, not handed to the fallback queue."""
    fake.phone("PJSIP/op1001", "busy")
    fake.phone("PJSIP/op1002", "busy")
    fake.fail("POST", r"/play$", 500)
    caller = fake.caller_arrives(DID, "79990001122")
    await fake.until(lambda: not fake.channel(caller).alive, timeout=2)
    assert not fake.in_fallback(caller)
    await router.flushed()
    assert router.call(caller)["outcome"] == "no_operator"
    assert len(router.misses(caller)) == 1


HANG_UP_RULES = f"""
operators:
  - {{id: op1001, name: Anna, endpoint: PJSIP/op1001}}
lines:
  - id: main-line
    numbers: ["{DID}"]
    routes: main
routes:
  main:
    - name: closed
      then: {{hang_up: }}
"""


async def test_hang_up_without_a_message_plays_the_default_one(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """docs/rules.md: "`hang_up:` with nothing under it plays the default message"; before,
    the caller was hung up in silence."""
    (tmp_path / "rules.yaml").write_text(HANG_UP_RULES, encoding="utf-8")
    router = RouterUnderTest(fake, tmp_path)
    await router.start()
    try:
        caller = fake.caller_arrives(DID, "79990001122")
        await fake.until(lambda: not fake.channel(caller).alive)
        await router.flushed()
        assert router.call(caller)["outcome"] == "message"
        played = router.rows(
            "select json_extract(data, '$.media') from call_events where call_id = ? and kind = ?",
            caller,
            "played",
        )
        assert played == [("sound:vm-nobodyavail",)]
    finally:
        await router.stop()
