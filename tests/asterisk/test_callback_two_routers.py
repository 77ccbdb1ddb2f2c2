"""Issue 6, real Asterisk + SIPp + PostgreSQL: two routers dispatch callbacks from one
ledger, and each patient is dialled exactly once (docs/callbacks.md, "Exactly once").

Both routers run the rules of test_callback_dispatch.py with four operators, on one fresh
PostgreSQL database (CLINIC_ROUTER_TEST_PG names the server), as ARI apps
`clinic-router-a` and `clinic-router-b`.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from router.storage import MissInput, Store
from router.storage.migrate import migrate
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sipp import Behaviour, Phones
from tests.asterisk.test_callback_dispatch import FAST, RULES
from tests.asterisk.test_ivr_and_queues import pause
from tests.component.storage_support import PG_ENV, empty_database

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get(PG_ENV),
        reason=f"{PG_ENV} is not set: two routers need one PostgreSQL server to share"
        " (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)",
    ),
]

OPERATORS = ("op1001", "op1002", "op1003", "op1004")
MARIA = "  - {id: op1002, name: Maria, endpoint: PJSIP/op1002, skills: {paid: 2}}\n"
RULES_4 = RULES.replace(
    MARIA,
    MARIA
    + "  - {id: op1003, name: Olga, endpoint: PJSIP/op1003}\n"
    + "  - {id: op1004, name: Irina, endpoint: PJSIP/op1004}\n",
)
NUMBERS = tuple(f"+7999000710{i}" for i in range(1, 7))
# "callback 12 attempt 1: connected -> connected", logged once an outcome is recorded
OUTCOME_LINE = re.compile(r"callback (\d+) attempt (\d+): (\w+) -> ")


async def seed_tasks(url: str, numbers: tuple[str, ...]) -> None:
    """One `no_operator` task per number, due now, written like a router writes them."""
    store = await Store.open(url)
    now = datetime.now(UTC)
    try:
        for number in numbers:
            result = await store.callbacks.record_miss(
                MissInput(
                    call_id=f"seed-{number}",
                    line="moscow",
                    number_e164=number,
                    patient_id=None,
                    reason="no_operator",
                    waited_s=30.0,
                    missed_at=now,
                    due_at=now,
                    create_task=True,
                )
            )
            assert result.created, result
    finally:
        await store.close()


def outcomes_logged(router: RouterProcess) -> dict[int, list[str]]:
    """Task id -> the outcomes this router recorded for it, from its log."""
    found: dict[int, list[str]] = {}
    text = router.log_path.read_text(errors="replace") if router.log_path.exists() else ""
    for task_id, _attempt, outcome in OUTCOME_LINE.findall(text):
        found.setdefault(int(task_id), []).append(outcome)
    return found


async def wait_logged(routers: list[RouterProcess], count: int, timeout: float) -> None:
    """The routers log an outcome just after writing it: wait for `count` such lines."""
    deadline = time.monotonic() + timeout
    while sum(len(v) for r in routers for v in outcomes_logged(r).values()) < count:
        if time.monotonic() > deadline:
            return  # the assertions below say what is missing
        await asyncio.sleep(0.1)


def all_closed(body: dict[str, Any]) -> bool:
    tasks = [t for t in body["callbacks"] if t["number"] in NUMBERS]
    return len(tasks) == len(NUMBERS) and all(t["state"] == "closed" for t in tasks)


async def test_two_routers_call_every_patient_back_exactly_once(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert all(f"PJSIP/{op}" in RULES_4 for op in OPERATORS), RULES_4
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_4, encoding="utf-8")
    phones_spec = {op: Behaviour("answer", hold=None) for op in OPERATORS}
    phones_spec["patients"] = Behaviour("answer", answer_after=1, hold=2)
    async with empty_database("postgresql", tmp_path) as url:
        await migrate(url)  # before the routers: they would race for the first migration
        routers = []
        for name in "ab":
            (tmp_path / name).mkdir()
            routers.append(
                RouterProcess(
                    tmp_path / name,
                    rules=rules,
                    extra_settings=FAST,
                    app=f"clinic-router-{name}",
                    db_url=url,
                )
            )
        try:
            await asyncio.gather(*(r.start() for r in routers))
            for router in routers:  # each router keeps its own board: pause on both
                await pause(router, *OPERATORS)
            await seed_tasks(url, NUMBERS)
            async with Phones(phones_spec) as phones:
                for router in routers:
                    await pause(router, *OPERATORS, state="available")
                body = await routers[0].wait_get("/api/callbacks?limit=200", all_closed, 120)
                await wait_logged(routers, len(NUMBERS), 5)
                reports = phones.report()
        finally:
            await asyncio.gather(*(r.stop() for r in routers))

    tasks = [t for t in body["callbacks"] if t["number"] in NUMBERS]
    assert {t["close_reason"] for t in tasks} == {"connected"}, tasks
    assert [t["attempts"] for t in tasks] == [1] * len(NUMBERS), tasks
    # Each number dialled once in total, by either router, and every patient answered.
    patient = reports["patients"].calls
    assert Counter(c.called for c in patient) == Counter(n[1:] for n in NUMBERS), patient
    assert all(c.answered_at is not None for c in patient), patient
    # Both routers worked tasks, and no task was settled by both.
    by_router = [outcomes_logged(r) for r in routers]
    print(f"\ntasks settled: router a {sorted(by_router[0])}, router b {sorted(by_router[1])}")
    assert set(by_router[0]).isdisjoint(by_router[1]), by_router
    assert set(by_router[0]) | set(by_router[1]) == {t["id"] for t in tasks}, by_router
    assert all(v == ["connected"] for logged in by_router for v in logged.values()), by_router
    assert by_router[0] and by_router[1], by_router
