"""`GET /metrics` on a real aiohttp server (127.0.0.1:0): token, figures, the lag probe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from api_support import bare_deps
from prometheus_client.parser import text_string_to_metric_families

from router.http.api import build_app
from router.http.metrics import LOOP_LAG, EngineFigures, RouterMetrics
from router.storage import Store

TOKEN = "m" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}", migrate=True)
    deps = bare_deps(store)
    figures = EngineFigures(
        waiting=lambda: 3,
        live_calls=lambda: 5,
        calls_started=lambda: 42,
        events_dropped=lambda: {"ChannelHangupRequest": 2},
    )
    # a 10 ms probe: a 50 ms block of the loop is certain to delay one of its wake-ups
    app = build_app(deps, TOKEN, RouterMetrics(figures, probe_interval_s=0.01))
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as test_client:
        yield test_client
    await store.close()


async def scrape(client: TestClient) -> dict[str, float]:  # type: ignore[type-arg]
    """Every sample of /metrics by name (and `le` for histogram buckets)."""
    resp = await client.get("/metrics", headers=AUTH)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            le = sample.labels.get("le")
            samples[sample.name + (f"[{le}]" if le else "")] = sample.value
    return samples


@pytest.mark.parametrize("header", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ""}])
async def test_metrics_need_the_token(client, header) -> None:  # type: ignore[no-untyped-def]
    resp = await client.get("/metrics", headers=header)
    assert resp.status == 401
    body = await resp.json()
    assert (body["status"], body["error_id"]) == (401, "unauthorized")


async def test_metrics_show_the_engine_figures(client) -> None:  # type: ignore[no-untyped-def]
    samples = await scrape(client)
    assert samples["clinic_router_waiting_callers"] == 3
    assert samples["clinic_router_live_calls"] == 5
    assert samples["clinic_router_calls_started_total"] == 42
    # labelled samples are keyed by name only here: the one event type dropped
    assert samples["clinic_router_call_events_dropped_total"] == 2
    assert samples["process_resident_memory_bytes"] > 0
    assert f"{LOOP_LAG}_count" in samples
    assert f"{LOOP_LAG}_bucket[0.02]" in samples


async def test_the_probe_sees_the_loop_blocked(client) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 5
    before = await scrape(client)
    while before[f"{LOOP_LAG}_count"] < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        before = await scrape(client)
    assert before[f"{LOOP_LAG}_count"] >= 3, "the probe is not running"
    time.sleep(0.05)  # noqa: ASYNC251 - holding the event loop is what is measured
    after = before
    while time.monotonic() < deadline:
        after = await scrape(client)
        slow = after[f"{LOOP_LAG}_count"] - after[f"{LOOP_LAG}_bucket[0.02]"]
        if slow > before[f"{LOOP_LAG}_count"] - before[f"{LOOP_LAG}_bucket[0.02]"]:
            break
        await asyncio.sleep(0.02)
    assert after[f"{LOOP_LAG}_count"] > before[f"{LOOP_LAG}_count"]
    # the wake-up due during the 50 ms block came at least 40 ms late
    assert after[f"{LOOP_LAG}_sum"] - before[f"{LOOP_LAG}_sum"] >= 0.039
    late = after[f"{LOOP_LAG}_count"] - after[f"{LOOP_LAG}_bucket[0.03]"]
    assert late >= 1 + before[f"{LOOP_LAG}_count"] - before[f"{LOOP_LAG}_bucket[0.03]"]
