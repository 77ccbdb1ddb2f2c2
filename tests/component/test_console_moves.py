"""Moving a waiting caller from the wallboard: supervisors and admins only, with the CSRF
token, a queue or an operator of the rules; handed to the engine and audited."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from console_support import Clock, Console, add_users, browser, csrf_of, serving_console, sign_in
from storage_support import migrated_store

from router.config.live_rules import LiveRules
from router.config.rules import load_rules
from router.engine.moves import MoveRequest
from router.storage import Store

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "config" / "rules.yaml"


@dataclass
class Engine:
    """Stands in for `Engine.move_waiting`: the calls waiting, the requests handed over."""

    waiting: set[str] = field(default_factory=lambda: {"c-1"})
    moves: list[tuple[str, MoveRequest]] = field(default_factory=list)

    def move_waiting(self, call_id: str, request: MoveRequest) -> bool:
        if call_id not in self.waiting:
            return False
        self.moves.append((call_id, request))
        return True


@dataclass
class Running:
    console: Console
    store: Store
    engine: Engine


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    engine = Engine()
    rules = LiveRules(RULES, load_rules(RULES))
    async with migrated_store("sqlite", tmp_path) as store:
        await add_users(store)
        clock = Clock(time.time())
        async with serving_console(store, clock, rules=rules, move=engine.move_waiting) as console:
            yield Running(console, store, engine)


async def test_a_supervisor_moves_a_waiting_caller_and_it_is_audited(running: Running) -> None:
    base = running.console.base
    url = f"{base}/console/supervise/waiting/c-1/move"
    async with browser() as sam:
        await sign_in(sam, base, "sam")
        async with sam.get(f"{base}/console/account") as page:
            token = csrf_of(await page.text())
        async with sam.post(url, data={"queue": "oms"}) as resp:
            assert resp.status == 403  # no CSRF token
        assert running.engine.moves == []
        headers = {"X-CSRF-Token": token}
        async with sam.post(url, data={"queue": "oms"}, headers=headers) as resp:
            assert resp.status == 204
        async with sam.post(url, data={"operator": "op1003"}, headers=headers) as resp:
            assert resp.status == 204
        for bad in (
            {"queue": "nope"},
            {"operator": "op9999"},
            {},
            {"queue": "oms", "operator": "op1003"},
        ):
            async with sam.post(url, data=bad, headers=headers) as resp:
                assert resp.status == 400, bad
        gone = f"{base}/console/supervise/waiting/c-2/move"
        async with sam.post(gone, data={"queue": "oms"}, headers=headers) as resp:
            assert resp.status == 409  # no longer waiting
    assert running.engine.moves == [
        ("c-1", MoveRequest("console:sam", queue="oms")),
        ("c-1", MoveRequest("console:sam", operator="op1003")),
    ]
    entries = await running.store.audit.recent(limit=10)
    moves = [(e.actor, e.ok, e.target, e.details) for e in entries if e.action == "caller.move"]
    assert moves == [
        ("sam", False, "c-2", {"ok": False, "queue": "oms", "operator": None}),
        ("sam", True, "c-1", {"ok": True, "queue": None, "operator": "op1003"}),
        ("sam", True, "c-1", {"ok": True, "queue": "oms", "operator": None}),
    ]


async def test_an_operator_or_a_signed_out_user_cannot_move_a_caller(running: Running) -> None:
    base = running.console.base
    url = f"{base}/console/supervise/waiting/c-1/move"
    async with browser() as olga, browser() as nobody:
        await sign_in(olga, base, "olga")
        async with olga.get(f"{base}/console/account") as page:
            token = csrf_of(await page.text())
        headers = {"X-CSRF-Token": token}
        async with olga.post(url, data={"queue": "oms"}, headers=headers) as resp:
            assert resp.status == 403
        async with nobody.get(f"{base}/console/signin") as page:
            token = csrf_of(await page.text())
        headers = {"X-CSRF-Token": token}
        async with nobody.post(url, data={"queue": "oms"}, headers=headers) as resp:
            assert resp.status == 401
    assert running.engine.moves == []
