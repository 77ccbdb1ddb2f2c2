"""`/api/callbacks` on a real aiohttp server (127.0.0.1:0) over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from api_support import TOKEN, serving

from router.domain.miss_target import MissTarget
from router.storage import MissInput, Store

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


def miss(call_id: str, number: str | None, minutes: int, **fields: Any) -> MissInput:
    at = T0 + timedelta(minutes=minutes)
    values: dict[str, Any] = {
        "call_id": call_id,
        "line": "moscow",
        "number_e164": number,
        "patient_id": None,
        "reason": "abandoned",
        "waited_s": 20.0,
        "missed_at": at,
        "due_at": at,
        "create_task": True,
        **fields,
    }
    return MissInput(**values)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, int]]]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", migrate=True)
    ids = {}
    ids["anna"] = (await store.callbacks.record_miss(miss("c1", "+79161234567", 0))).task_id or 0
    lab = MissTarget("moscow", queue="lab", operator="op1001")
    await store.callbacks.record_miss(miss("c2", "+79161234567", 5, reason="max_wait", target=lab))
    ids["olga"] = (
        await store.callbacks.record_miss(miss("c3", "+79167654321", 50, line="ryazan"))
    ).task_id or 0
    await store.callbacks.record_miss(miss("c4", None, 55))
    try:
        async with serving(store, clock=lambda: NOW) as base:
            yield base, ids
    finally:
        await store.close()


async def call(
    method: str, url: str, *, params: dict[str, str] | None = None, token: str = TOKEN, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, params=params, headers=headers, **kw) as resp,
    ):
        return resp.status, await resp.json()


async def test_list_shows_the_open_tasks_in_dispatch_order(api: tuple[str, dict[str, int]]) -> None:
    base, ids = api
    status, body = await call("GET", f"{base}/api/callbacks")
    assert status == 200 and (body["limit"], body["offset"]) == (50, 0)
    assert [t["id"] for t in body["callbacks"]] == [ids["anna"], ids["olga"]]
    anna = body["callbacks"][0]
    assert anna["number"] == "+79161234567" and anna["state"] == "open"
    assert (anna["miss_count"], anna["reasons"], anna["priority"]) == (
        2,
        ["abandoned", "max_wait"],
        1,
    )
    assert (anna["first_missed_at"], anna["age_s"]) == ("2026-12-01T09:00:00+00:00", 3600)
    assert anna["attempt_in_progress"] is False


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"line": "ryazan"}, ["olga"]),
        ({"min_age_s": "1800"}, ["anna"]),
        ({"state": "open", "limit": "1", "offset": "1"}, ["olga"]),
        ({"state": "cancelled"}, []),
    ],
)
async def test_list_filters(
    api: tuple[str, dict[str, int]], params: dict[str, str], expected: list[str]
) -> None:
    base, ids = api
    status, body = await call("GET", f"{base}/api/callbacks", params=params)
    assert status == 200
    assert [t["id"] for t in body["callbacks"]] == [ids[name] for name in expected]


@pytest.mark.parametrize(
    "params",
    [{"state": "lost"}, {"limit": "0"}, {"limit": "x"}, {"min_age_s": "-1"}, {"line": "x" * 65}],
)
async def test_bad_filters_are_400(api: tuple[str, dict[str, int]], params: dict[str, str]) -> None:
    status, body = await call("GET", f"{api[0]}/api/callbacks", params=params)
    assert (status, body["error_id"]) == (400, "bad_parameter")
    assert set(body) == {"status", "error_id", "message", "details"}


async def test_show_includes_the_misses(api: tuple[str, dict[str, int]]) -> None:
    base, ids = api
    status, body = await call("GET", f"{base}/api/callbacks/{ids['anna']}")
    assert status == 200 and body["id"] == ids["anna"]
    assert body["target"] == {
        "line": "moscow",
        "queue": "lab",
        "skills": None,
        "min_level": 1,
        "operator": "op1001",
    }
    assert [(m["call_id"], m["reason"]) for m in body["misses"]] == [
        ("c1", "abandoned"),
        ("c2", "max_wait"),
    ]
    for path in ("/api/callbacks/999", "/api/callbacks/999/cancel"):
        method = "POST" if path.endswith("cancel") else "GET"
        status, body = await call(method, base + path)
        assert (status, body["error_id"]) == (404, "callback_not_found")
    status, body = await call("GET", f"{base}/api/callbacks/abc")
    assert (status, body["error_id"]) == (404, "not_found")


async def test_cancel_and_done(api: tuple[str, dict[str, int]]) -> None:
    base, ids = api
    status, body = await call("POST", f"{base}/api/callbacks/{ids['anna']}/cancel")
    assert status == 200
    assert (body["state"], body["closed_by"], body["closed_at"]) == (
        "cancelled",
        "api",
        NOW.isoformat(),
    )
    status, body = await call(
        "POST", f"{base}/api/callbacks/{ids['olga']}/done", json={"by": "op1001", "note": "ok"}
    )
    assert status == 200 and (body["state"], body["closed_by"], body["note"]) == (
        "done",
        "op1001",
        "ok",
    )
    status, body = await call("POST", f"{base}/api/callbacks/{ids['anna']}/done")
    assert (status, body["error_id"], body["details"]["state"]) == (
        409,
        "callback_closed",
        "cancelled",
    )
    _, listed = await call("GET", f"{base}/api/callbacks", params={"state": "open"})
    assert listed["callbacks"] == []


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"data": "not json"}, (400, "bad_json")),
        ({"json": ["by"]}, (400, "bad_request")),
        ({"json": {"by": 7}}, (422, "bad_by")),
        ({"json": {"note": "x" * 501}}, (422, "bad_note")),
    ],
)
async def test_bad_bodies(
    api: tuple[str, dict[str, int]], kw: dict[str, Any], error: tuple[int, str]
) -> None:
    base, ids = api
    status, body = await call("POST", f"{base}/api/callbacks/{ids['anna']}/done", **kw)
    assert (status, body["error_id"]) == error


async def test_summary(api: tuple[str, dict[str, int]]) -> None:
    base, _ = api
    status, body = await call("GET", f"{base}/api/callbacks/summary")
    assert status == 200
    assert body == {
        "since": (NOW - timedelta(days=7)).isoformat(),
        "open_tasks": 2,
        "oldest_open_age_s": 3600,
        "misses": 4,
        "lost_anonymous": 1,
        "closed": 0,
        "closed_by_reason": {},
        "median_time_to_callback_s": None,
        "share_closed_connected": None,
    }
    _, everything = await call("GET", f"{base}/api/callbacks/summary", params={"days": "0"})
    assert everything["since"] is None and everything["misses"] == 4


async def test_every_route_needs_the_token(api: tuple[str, dict[str, int]]) -> None:
    base, ids = api
    for method, path in (
        ("GET", "/api/callbacks"),
        ("GET", "/api/callbacks/summary"),
        ("GET", f"/api/callbacks/{ids['anna']}"),
        ("POST", f"/api/callbacks/{ids['anna']}/cancel"),
    ):
        status, body = await call(method, base + path, token="wrong")
        assert (status, body["error_id"]) == (401, "unauthorized")
