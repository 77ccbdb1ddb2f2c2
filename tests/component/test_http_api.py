"""The HTTP API on a real aiohttp server (127.0.0.1:0) over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import event

from router.config.live_rules import LiveRules
from router.config.rules import load_rules
from router.domain.operators import Operator, OperatorStatus, Presence
from router.engine.board import OperatorBoard
from router.http.api import ApiDeps, build_app
from router.storage.journal import CallUpdate, Journal, NewCall
from router.storage.models import CallRow
from router.storage.store import Store
from sip_test_harness.load import observe

TOKEN = "t" * 24
GOOD_RULES = """skills:
  paid: Paid services
operators:
  - id: {op}
    name: Anna
    endpoint: PJSIP/{op}
    skills: {{paid: 3}}
"""


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[str, Store, OperatorBoard]]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", migrate=True)
    board = OperatorBoard(lambda: 1000.0)
    board.load(
        [
            OperatorStatus(Operator("op1", "Anna", "PJSIP/op1"), Presence.AVAILABLE),
            OperatorStatus(Operator("op2", "Olga", "PJSIP/op2"), Presence.ON_CALL),
        ]
    )
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(GOOD_RULES.format(op="op1"), encoding="utf-8")
    live = LiveRules(rules_path, load_rules(rules_path))
    deps = ApiDeps(
        rules=live,
        store=store,
        board=board,
        ari_connected=lambda: True,
        rules_version=lambda: "abc123",
        recorder_backlog=lambda: 0,
        db_ping=store.ping,
    )
    runner = web.AppRunner(build_app(deps, TOKEN))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", store, board
    await runner.cleanup()
    await store.close()


async def call(method: str, url: str, token: str | None = TOKEN, **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, **kw) as resp,
    ):
        return resp.status, await resp.json()


async def test_health_is_open_and_reports_parts(api) -> None:  # type: ignore[no-untyped-def]
    base, _, _ = api
    status, body = await call("GET", f"{base}/health", token=None)
    assert status == 200
    assert body == {
        "status": "ok",
        "problems": [],
        "ari_connected": True,
        "database_reachable": True,
        "database_storing": True,
        "rules_version": "abc123",
        "journal_backlog": 0,
    }


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
async def test_api_needs_the_token(api, token) -> None:  # type: ignore[no-untyped-def]
    base, _, _ = api
    status, body = await call("GET", f"{base}/api/operators", token=token)
    assert status == 401
    assert body["error_id"] == "unauthorized" and body["status"] == 401


async def test_calls_newest_first_with_journey(api) -> None:  # type: ignore[no-untyped-def]
    base, store, _ = api
    for n in range(3):
        at = datetime(2026, 11, 23, 10, n, tzinfo=UTC)
        await store.calls.create(
            CallRow(id=f"c{n}", app="clinic-router", caller_raw="'; DROP", did="100", started_at=at)
        )
        await store.calls.append_event(f"c{n}", "arrived", {"did": "100"}, at)
    status, body = await call("GET", f"{base}/api/calls?limit=2")
    assert status == 200
    assert [c["id"] for c in body["calls"]] == ["c2", "c1"]
    assert body["calls"][0]["journey"][0]["kind"] == "arrived"
    assert body["calls"][0]["caller_raw"] == "'; DROP"
    status, body = await call("GET", f"{base}/api/calls?limit=abc")
    assert (status, body["error_id"]) == (400, "bad_parameter")
    status, body = await call("GET", f"{base}/api/calls/nope")
    assert (status, body["error_id"]) == (404, "call_not_found")


async def test_calls_since_and_paged_with_journeys_in_one_query(api) -> None:  # type: ignore[no-untyped-def]
    base, store, _ = api
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    for n in range(7):
        at = t0 + timedelta(minutes=n)
        row = CallRow(
            id=f"c{n}", app="clinic-router", caller_raw=f"+7{n}", did="100", started_at=at
        )
        await store.calls.create(row)
        await store.calls.append_event(f"c{n}", "arrived", {"n": n}, at)
        await store.calls.append_event(f"c{n}", "outcome", {"n": n}, at + timedelta(seconds=1))
    selects: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "call_events" in statement:
            selects.append(statement)

    event.listen(store.db.engine.sync_engine, "before_cursor_execute", seen)
    since = (t0 + timedelta(minutes=2)).astimezone(timezone(timedelta(hours=3))).isoformat()
    params: dict[str, str] = {"limit": "2", "since": since}
    pages = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        while True:
            async with session.get(f"{base}/api/calls", params=params) as resp:
                assert resp.status == 200
                body = await resp.json()
            pages.append([c["id"] for c in body["calls"]])
            for c in body["calls"]:
                assert [e["kind"] for e in c["journey"]] == ["arrived", "outcome"]
                assert c["journey"][0]["data"] == {"n": int(c["id"][1:])}
            if body["next"] is None:
                break
            params.update(body["next"])
    assert pages == [["c6", "c5"], ["c4", "c3"], ["c2"]]
    assert len(selects) == len(pages)  # one query of journeys per page, not one per call


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "since=2026-11-23T10:00:00",  # no offset: which zone?
        "since=2026-11-23T10:00:00+03:00",  # the + unescaped: a space arrives
        "before_id=c1",
    ],
)
async def test_calls_bad_time_parameters(api, query: str) -> None:  # type: ignore[no-untyped-def]
    base, _, _ = api
    status, body = await call("GET", f"{base}/api/calls?{query}")
    assert (status, body["error_id"]) == (400, "bad_parameter")


async def test_the_load_harness_reads_every_journey_page_by_page(api) -> None:  # type: ignore[no-untyped-def]
    base, store, _ = api
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    count = observe.API_LIMIT + 20
    rows = [
        NewCall(CallRow(f"c{n:04d}", "clinic-router", f"+7{n}", "100", t0 + timedelta(seconds=n)))
        for n in range(-5, count)
    ]
    await Journal(store.db).apply(rows)
    await Journal(store.db).apply(
        [CallUpdate(f"c{n:04d}", {"outcome": "answered"}) for n in range(0, count, 2)]
    )
    journeys = await observe.RouterApi(base, TOKEN).journeys(since=t0)
    assert len(journeys) == count
    assert sorted(j.caller_raw for j in journeys) == sorted(f"+7{n}" for n in range(count))
    assert sum(1 for j in journeys if j.outcome == "answered") == count // 2


async def test_operator_state_changes(api) -> None:  # type: ignore[no-untyped-def]
    base, _, board = api
    status, body = await call(
        "PUT", f"{base}/api/operators/op1/state", json={"state": "paused", "reason": "lunch"}
    )
    assert status == 200 and body["state"] == "paused" and body["reason"] == "lunch"
    assert board.get("op1").presence is Presence.PAUSED
    status, body = await call("GET", f"{base}/api/operators")
    assert [(o["id"], o["state"]) for o in body["operators"]] == [
        ("op1", "paused"),
        ("op2", "on_call"),
    ]


@pytest.mark.parametrize(
    ("op", "payload", "status", "error_id"),
    [
        ("op1", {"state": "on_call"}, 422, "bad_state"),
        ("op1", {"state": "dancing"}, 422, "bad_state"),
        ("op1", {"nothing": 1}, 400, "bad_request"),
        ("op1", {"state": "paused", "reason": "x" * 100}, 422, "bad_reason"),
        ("op9", {"state": "paused"}, 404, "operator_not_found"),
    ],
)
async def test_operator_state_errors(api, op, payload, status, error_id) -> None:  # type: ignore[no-untyped-def]
    base, _, _ = api
    got, body = await call("PUT", f"{base}/api/operators/{op}/state", json=payload)
    assert (got, body["error_id"]) == (status, error_id)
    assert set(body) == {"status", "error_id", "message", "details"}


async def test_a_state_asked_for_during_a_call_is_pending_until_it_ends(api) -> None:  # type: ignore[no-untyped-def]
    base, _, board = api
    got, body = await call(
        "PUT", f"{base}/api/operators/op2/state", json={"state": "paused", "reason": "lunch"}
    )
    assert got == 200
    assert (body["state"], body["pending"]) == ("on_call", {"state": "paused", "reason": "lunch"})
    _, listed = await call("GET", f"{base}/api/operators")
    assert [o["pending"] for o in listed["operators"]] == [
        None,
        {"state": "paused", "reason": "lunch"},
    ]
    board.finished("op2", 30.0, lambda *_: None)  # the call ends: no wrap-up, the pause
    _, listed = await call("GET", f"{base}/api/operators")
    op2 = listed["operators"][1]
    assert (op2["state"], op2["reason"], op2["pending"]) == ("paused", "lunch", None)


async def test_bad_json_body(api) -> None:  # type: ignore[no-untyped-def]
    base, _, _ = api
    got, body = await call("PUT", f"{base}/api/operators/op1/state", data=b"{not json")
    assert (got, body["error_id"]) == (400, "bad_json")


async def test_unknown_route_is_json_404(api) -> None:  # type: ignore[no-untyped-def]
    base, _, _ = api
    got, body = await call("GET", f"{base}/api/nothing")
    assert (got, body["error_id"]) == (404, "not_found")


async def test_rules_reload_rejects_a_broken_edit_and_keeps_the_last_good_set(
    api: tuple[str, Store, OperatorBoard], tmp_path: Path
) -> None:
    base, _, _ = api
    _, before = await call("GET", f"{base}/api/rules")
    assert before["last_rejected"] is None and before["operators"] == 1
    (tmp_path / "rules.yaml").write_text(
        GOOD_RULES.format(op="op1") + "  - id: [\n", encoding="utf-8"
    )
    status, body = await call("POST", f"{base}/api/rules/reload")
    assert (status, body["error_id"]) == (422, "rules_rejected")
    assert body["details"]["errors"][0].startswith(str(tmp_path / "rules.yaml") + ":")
    _, after = await call("GET", f"{base}/api/rules")
    assert after["version"] == before["version"]
    assert after["last_rejected"]["trigger"] == "api"
    (tmp_path / "rules.yaml").write_text(GOOD_RULES.format(op="op7"), encoding="utf-8")
    status, body = await call("POST", f"{base}/api/rules/reload")
    assert status == 200 and body["changed"] is True
    assert body["version"] != before["version"]
