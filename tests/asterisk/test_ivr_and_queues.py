"""Issues 3-5, real Asterisk + SIPp (RFC 2833 DTMF): the line's routes, the trimmed menu,
skill queues with relaxation, the manager's wait budget, cross-queue order and
announcements, as the live engine runs them."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call

pytestmark = pytest.mark.asterisk

DID = "74952232222"
OPS = ("op1001", "op1002", "op1003", "op1004")

RULES = """
skills: {paid: Paid, dms: DMS, dentistry: Dentistry}
operators:
  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, team: front, skills: {paid: 4}}
  - {id: op1002, name: Maria, endpoint: PJSIP/op1002, team: front, skills: {paid: 2, dms: 5}}
  - {id: op1003, name: Olga, endpoint: PJSIP/op1003, team: front, skills: {dentistry: 5}}
  - {id: op1004, name: Dmitry, endpoint: PJSIP/op1004, team: vip, skills: {paid: 5}}
lines:
  - {id: moscow, numbers: ["74952232222"], branch: moscow, routes: main}
routes:
  main:
    - name: own-manager
      when: {caller: known, has_assigned_operator: true}
      then: {assigned_operator: {wait_s: 8, otherwise: {queue: team-front}}}
    - name: visit-soon
      when: {caller: known, appointment: today_or_tomorrow}
      then: {menu: visit}
    - name: everyone
      then: {menu: main}
menus:
  visit:
    prompt: clinic-appointment-menu
    timeout_s: 2
    retries: 0
    default: "1"
    options:
      - {key: "1", label: Visit, prompt: clinic-opt-appointment, say_visit: true,
         then: {queue: dentistry}}
      - {key: "2", label: Other, prompt: clinic-opt-other, then: {menu: main}}
  main:
    prompt: clinic-main-menu
    timeout_s: 2
    retries: 1
    default: "1"
    options:
      - {key: "1", label: Paid, prompt: clinic-opt-paid, then: {queue: paid}}
      - {key: "3", label: DMS, prompt: clinic-opt-dms, then: {queue: dms},
         auto_when: {tags_any: [dms]}}
      - {key: "6", label: Dentistry, prompt: clinic-opt-dentistry, then: {queue: dentistry}}
queues:
  team-front:                     # the manager's colleagues: the next rung of the ladder
    teams: [front]
    max_wait_s: 10
    steps: [{after_s: 0}]
    at_max_wait: {queue: paid}
  paid:
    max_wait_s: 40
    announce_every_s: ANNOUNCE
    announcement: queue-your-call-is-important
    steps:
      - {after_s: 0, skills: [paid], min_level: 4}
      - {after_s: 6, skills: [paid], min_level: 2}
  dms:
    max_wait_s: 40
    steps:
      - {after_s: 0, skills: [dms]}
  dentistry:
    steps:
      - {after_s: 0, skills: [dentistry]}
"""


def rules_file(folder: Path, announce_s: int = 0) -> Path:
    path = folder / "rules.yaml"
    path.write_text(RULES.replace("ANNOUNCE", str(announce_s)), encoding="utf-8")
    return path


async def import_patients(router: RouterProcess, folder: Path, rows: list[str]) -> None:
    csv = folder / "patients.csv"
    header = "patient_id,name,phones,assigned_operator,tags,birth_year\n"
    csv.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    await router.import_patients(csv)


async def test_patient_with_a_visit_tomorrow_hears_about_it_first(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    tomorrow = (datetime.now(ZoneInfo("Europe/Moscow")) + timedelta(days=1)).date()
    csv = tmp_path / "patients.csv"
    csv.write_text(
        "patient_id,name,phones,appointments\n"
        f"p-visit,Olga Visit,+79160000051,{tomorrow}T10:30|Dr House|moscow\n",
        encoding="utf-8",
    )
    await router.import_patients(csv)
    await router.start()
    try:
        # op1003 hangs up 2 s after answering: the call lasts as long as the menu and the
        # visit take to reach an operator, no fixed guess of it
        async with Phones(answering(hold=2)) as phones:
            result = await place_call("+79160000051", DID, timeout=60)
        assert result.ok and result.hangup_by == "far_end", result.describe()
        assert phones.report()["op1003"].answered == 1  # the visit option's queue
        [call] = await router.wait_calls(1, timeout=40)
        [menu] = steps(call, "menu")
        assert (menu["data"]["menu"], menu["data"]["chosen"]) == ("visit", "1")
        played = [s["data"]["media"] for s in steps(call, "played")]
        assert any("clinic-visit-tomorrow number:10 hours number:30 minutes" in m for m in played)
    finally:
        await router.stop()


def steps(call: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in call["journey"] if s["kind"] == kind]


def at(step: dict[str, Any]) -> float:
    return datetime.fromisoformat(step["at"]).timestamp()


def waiting(body: dict[str, Any], number: str) -> bool:
    """Whether the call from `number` is waiting in a queue (for an operator) now."""
    call = next((c for c in body["calls"] if c["caller"] == number), None)
    return call is not None and bool(steps(call, "waiting")) and not steps(call, "ringing")


def by_caller(calls: list[dict[str, Any]], number: str) -> dict[str, Any]:
    return next(c for c in calls if c["caller"] == number)


async def pause(router: RouterProcess, *operators: str, state: str = "paused") -> None:
    for op in operators:
        status, body = await router.request("PUT", f"/api/operators/{op}/state", {"state": state})
        assert status == 200, body


def answering(hold: float = 30) -> dict[str, Behaviour]:
    return {op: Behaviour("answer", hold=hold) for op in OPS}


async def test_unknown_caller_presses_a_key_and_reaches_that_skill(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    await router.start()
    try:
        async with Phones(answering()) as phones:
            result = await place_call("79990002001", DID, dtmf="6", dtmf_delay=2, hangup_after=2)
        assert result.ok, result.describe()
        assert phones.report()["op1003"].answered == 1
        [call] = await router.wait_calls(1)
        assert (call["outcome"], call["operator_id"]) == ("answered", "op1003")
        [menu] = steps(call, "menu")
        assert menu["data"]["action"] == "play" and menu["data"]["chosen"] == "6"
        assert menu["data"]["offered"] == ["1", "3", "6"]
    finally:
        await router.stop()


async def test_dms_patient_skips_the_menu_and_reaches_a_dms_operator(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    await import_patients(router, tmp_path, ["p-dms,Ivan Orlov,+79160000011,,dms,1970"])
    await router.start()
    try:
        async with Phones(answering()) as phones:
            result = await place_call("+79160000011", DID, hangup_after=2)
        assert result.ok, result.describe()
        assert phones.report()["op1002"].answered == 1
        [call] = await router.wait_calls(1)
        assert (call["operator_id"], call["patient_id"]) == ("op1002", "p-dms")
        [menu] = steps(call, "menu")
        assert (menu["data"]["action"], menu["data"]["chosen"]) == ("auto", "3")
        assert not [s for s in steps(call, "played") if "clinic-main-menu" in s["data"]["media"]]
    finally:
        await router.stop()


async def test_shared_phone_asks_which_patient_then_routes_to_their_manager(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    await import_patients(
        router,
        tmp_path,
        [
            "p-mum,Elena Sidorova,+79160000022,op1004,,1980",
            "p-kid,Misha Sidorov,+79160000022,op1001,,2015",
        ],
    )
    await router.start()
    try:
        async with Phones(answering()) as phones:
            result = await place_call("+79160000022", DID, dtmf="2", dtmf_delay=2, hangup_after=2)
        assert result.ok, result.describe()
        assert phones.report()["op1001"].answered == 1
        [call] = await router.wait_calls(1)
        [identified] = steps(call, "identified")
        assert identified["data"]["patients_on_number"] == 2
        assert identified["data"]["choice_key"] == "2"
        assert (call["patient_id"], call["operator_id"]) == ("p-kid", "op1001")
        assert not steps(call, "menu")  # the manager route: no menu at all
    finally:
        await router.stop()


async def test_anonymous_caller_pressing_nothing_gets_the_full_menu_then_the_default(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    await router.start()
    try:
        # the operator hangs up 2 s after answering: the call lasts as long as two menus
        # and the queue take, no fixed guess of it
        async with Phones(answering(hold=2)) as phones:
            result = await place_call("anonymous", DID, timeout=60)
        assert result.ok and result.hangup_by == "far_end", result.describe()
        assert sum(r.answered for r in phones.report().values()) == 1  # not hung up on
        [call] = await router.wait_calls(1, timeout=60)
        [menu] = steps(call, "menu")
        assert menu["data"]["offered"] == ["1", "3", "6"]
        assert menu["data"]["pressed"] == [] and menu["data"]["chosen"] == "1"
        assert "default" in menu["data"]["why"]
        assert call["outcome"] == "answered" and call["operator_id"] in ("op1001", "op1004")
        played = [s["data"]["media"] for s in steps(call, "played")]
        assert sum("clinic-main-menu" in m for m in played) == 2  # the first try and one retry
        assert phones.report()["op1002"].invites == 0  # level 2: not at the first step
    finally:
        await router.stop()


async def test_queue_relaxes_to_a_lower_level_after_the_step(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    await router.start()
    try:
        await pause(router, "op1001", "op1004")  # both level-4+ paid operators away
        async with Phones(answering()) as phones:
            result = await place_call(
                "79990002003", DID, dtmf="1", dtmf_delay=2, hangup_after=12, timeout=40
            )
        assert result.ok, result.describe()
        assert phones.report()["op1002"].answered == 1
        [call] = await router.wait_calls(1)
        [waiting] = steps(call, "waiting")
        [ringing] = steps(call, "ringing")
        assert ringing["data"]["operator"] == "op1002"
        assert at(ringing) - at(waiting) >= 5.5  # only after the 6 s step
    finally:
        await router.stop()


async def test_busy_manager_waits_the_budget_then_the_team(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path))
    await import_patients(
        router,
        tmp_path,
        [
            "p-1,First Patient,+79160000031,op1004,,1960",
            "p-2,Second Patient,+79160000032,op1004,,1961",
        ],
    )
    await router.start()
    try:
        async with Phones(answering(hold=25)) as phones:
            first = asyncio.create_task(place_call("+79160000031", DID, timeout=40))
            await phones.wait_until("op1004", lambda r: r.answered >= 1, timeout=15)
            second = await place_call("+79160000032", DID, hangup_after=14, timeout=40)
            await first
        assert second.ok, second.describe()
        calls = await router.wait_calls(2, timeout=40)
        call = by_caller(calls, "+79160000032")
        assert call["operator_id"] in ("op1001", "op1002", "op1003")  # the front team
        [waiting_manager, waiting_queue] = steps(call, "waiting")
        assert waiting_manager["data"]["for"] == "assigned op1004"
        assert waiting_queue["data"]["for"] == "queue team-front"
        assert at(waiting_queue) - at(waiting_manager) >= 7.5  # the 8 s budget
        assert by_caller(calls, "+79160000031")["operator_id"] == "op1004"
    finally:
        await router.stop()


async def test_cross_queue_arrival_order_and_announcements(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = RouterProcess(tmp_path, rules=rules_file(tmp_path, announce_s=4))
    await import_patients(router, tmp_path, ["p-dms,Ivan Orlov,+79160000041,,dms,1970"])
    await router.start()
    try:
        await pause(router, "op1001", "op1002", "op1004")
        async with Phones(answering(hold=5)) as phones:
            # The paid caller arrives first; op1002 (paid 2 after 6 s, dms 5) serves both.
            paid = asyncio.create_task(
                place_call("79990002004", DID, dtmf="1", dtmf_delay=2, timeout=60)
            )
            await router.wait_get("/api/calls", lambda b: waiting(b, "+79990002004"), 20)
            dms = asyncio.create_task(place_call("+79160000041", DID, timeout=60))

            def both_wait_and_announced(body: dict[str, Any]) -> bool:
                paid_call = next(c for c in body["calls"] if c["caller"] == "+79990002004")
                return waiting(body, "+79160000041") and bool(steps(paid_call, "played"))

            await router.wait_get("/api/calls", both_wait_and_announced, 30)
            started = time.monotonic()
            await pause(router, "op1002", state="available")
            results = await asyncio.gather(paid, dms)
        assert all(r.ok for r in results), [r.describe() for r in results]
        calls = await router.wait_calls(2, timeout=60)
        first, second = by_caller(calls, "+79990002004"), by_caller(calls, "+79160000041")
        assert first["operator_id"] == "op1002" and second["operator_id"] == "op1002"
        assert at(steps(first, "connected")[0]) < at(steps(second, "connected")[0])
        assert time.monotonic() - started > 5  # the second waited for the first to finish
        announcements = steps(first, "announcement")
        assert announcements and announcements[0]["data"]["position"] == 1
        played = [s["data"] for s in steps(first, "played")]
        assert {"media": "queue-your-call-is-important queue-youarenext", "state": "done"} in played
        assert phones.report()["op1002"].answered == 2
    finally:
        await router.stop()
