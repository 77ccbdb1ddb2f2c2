"""`GET /api/reports/...` on a real aiohttp server over a real SQLite store."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from api_support import TOKEN, serving

from router.domain.reports import report as pure_report
from router.storage import Store
from router.storage.models import CallRow

T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
NOW = T0 + timedelta(days=1)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", migrate=True)
    for cid, minutes, outcome in (("a", 0, "answered"), ("b", 70, "abandoned")):
        start = T0 + timedelta(minutes=minutes)
        await store.calls.create(CallRow(cid, "clinic-router", "1", "7495", start, line="moscow"))
        await store.calls.append_event(cid, "waiting", {"for": "queue dms"}, start)
        end = start + timedelta(seconds=30)
        fields: dict[str, Any] = {"outcome": outcome, "ended_at": end}
        if outcome == "answered":
            fields.update(answered_at=start + timedelta(seconds=8), operator_id="op1")
        await store.calls.update(cid, **fields)
    try:
        async with serving(store, clock=lambda: NOW) as url:
            yield url
    finally:
        await store.close()


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers=AUTH if headers is None else headers) as r,
    ):
        text = await r.text()
        body = await r.json(content_type=None) if "json" in r.content_type else None
        return r.status, body, text


DAY = "from=2026-12-01&to=2026-12-01&tz=Europe/Moscow"


async def test_calls_by_hour(base: str) -> None:
    status, body, _ = await _get(f"{base}/api/reports/calls?{DAY}&by=hour")
    assert status == 200
    assert body["start"] == "2026-12-01T00:00:00+03:00"
    rows = [(r["key"], r["offered"], r["answered"], r["abandoned_waiting"]) for r in body["rows"]]
    assert rows == [
        ("2026-12-01 10:00+0300", 1, 1, 0),
        ("2026-12-01 11:00+0300", 1, 0, 1),
        ("total", 2, 1, 1),
    ]
    assert body["rows"][-1]["service_level"] == 0.5  # a: 8 s; b: left after 30 s


async def test_by_branch_without_rules_is_one_unknown_branch(base: str) -> None:
    status, body, _ = await _get(f"{base}/api/reports/calls?{DAY}&by=branch")
    assert status == 200  # the test API has no rules: no line has a branch
    assert [(r["key"], r["offered"]) for r in body["rows"]] == [("-", 2), ("total", 2)]


async def test_the_default_period_is_the_last_seven_days(base: str) -> None:
    status, body, _ = await _get(f"{base}/api/reports/calls")
    assert status == 200
    assert body["end"] == "2026-12-02T10:00:00+03:00"  # the API's clock, in console.timezone
    assert body["rows"][-1]["offered"] == 2


async def test_csv_download(base: str) -> None:
    status, _, text = await _get(f"{base}/api/reports/operators?{DAY}&format=csv")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["operator_id"], r["talk_total_s"]) for r in rows] == [("op1", "22.0")]


async def test_compare_and_misses(base: str) -> None:
    status, body, _ = await _get(f"{base}/api/reports/compare?{DAY}")
    assert status == 200 and body["previous_end"] == "2026-12-01T00:00:00+03:00"
    status, body, _ = await _get(f"{base}/api/reports/misses?{DAY}")
    assert status == 200 and {"figure": "misses", "value": 0} in body["rows"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("from=monday", "from"),
        ("from=2026-12-02&to=2026-12-01", "from"),
        ("tz=Mars/Olympus", "tz"),
        ("by=week", "by"),
        ("sl_target=0", "sl_target"),
        ("sl_target=abc", "sl_target"),
        ("format=xlsx", "format"),
    ],
)
async def test_bad_parameters_are_the_apis_error_shape(
    base: str, query: str, parameter: str
) -> None:
    status, body, _ = await _get(f"{base}/api/reports/calls?{query}")
    assert status == 400
    assert body["error_id"] == "bad_parameter" and body["details"] == {"parameter": parameter}
    assert set(body) == {"status", "error_id", "message", "details"}


async def test_needs_the_token_and_a_known_section(base: str) -> None:
    status, body, _ = await _get(f"{base}/api/reports/calls", headers={})
    assert status == 401
    status, body, _ = await _get(f"{base}/api/reports/everything")
    assert status == 404 and body["error_id"] == "not_found"


async def test_staffing(base: str) -> None:
    status, body, _ = await _get(f"{base}/api/reports/staffing?{DAY}&goal=0.9&patience=90")
    assert status == 200
    assert body["goal"] == {"target_s": 20.0, "level": 0.9}
    # Tuesday 10:00 and 11:00 had one call each: 1 call an hour, 22 s talk.
    assert [(r["key"], r["calls_per_hour"], r["patience_s"]) for r in body["rows"]] == [
        ("Tue 10", 1.0, 90.0),
        ("Tue 11", 1.0, 90.0),
    ]
    assert body["rows"][0]["erlang_c_agents"] == 1 and body["rows"][0]["on_duty"] is None
    status, body, _ = await _get(f"{base}/api/reports/staffing?goal=1.5")
    assert status == 400 and body["details"] == {"parameter": "goal"}


async def test_a_period_longer_than_the_cap_is_refused_clearly(base: str) -> None:
    year = "from=2025-12-02&to=2026-12-01&tz=Europe/Moscow"  # 365 days: allowed
    status, _, _ = await _get(f"{base}/api/reports/calls?{year}")
    assert status == 200
    longer = "from=2024-01-01&to=2026-12-01&tz=Europe/Moscow"
    for path in ("calls", "operators", "compare", "staffing"):
        status, body, _ = await _get(f"{base}/api/reports/{path}?{longer}")
        assert status == 400, path
        assert body["error_id"] == "period_too_long"
        assert body["details"]["max_days"] == 366
        assert "at most 366 days" in body["message"]


async def test_a_report_is_built_off_the_event_loop(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a report is being built, the server (one event loop with the test) still
    answers: the build waits for the test to release it, which only a free loop can."""
    entered, release = threading.Event(), threading.Event()
    released_in_time: list[bool] = []
    real = pure_report.report_of_sums  # the pure part of `store.reports.report`

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        released_in_time.append(release.wait(10))
        return real(*args, **kwargs)

    monkeypatch.setattr(pure_report, "report_of_sums", held)
    report = asyncio.create_task(_get(f"{base}/api/reports/calls?{DAY}"))
    assert await asyncio.to_thread(entered.wait, 10)
    status, _, _ = await _get(f"{base}/health")
    assert status in (200, 503)  # answered at all while the report is being built
    release.set()
    status, _, _ = await report
    assert status == 200
    assert released_in_time == [True]
