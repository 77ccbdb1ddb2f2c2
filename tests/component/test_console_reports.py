"""The console's reports page: figures and charts in a real browser (Debian chromium via
Playwright, no Asterisk needed), who may see it, and a period it cannot read."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_support import PASSWORD, Clock, add_users, browser, serving_console, sign_in
from playwright.async_api import async_playwright

from router.storage import Store
from router.storage.models import CallRow

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """Yesterday: three callers wait 5, 15 and 40 s; op1 answers the first two; op2 lets
    the third one's call ring out and the caller gives up."""
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'console.db'}", migrate=True)
    await add_users(opened)
    base = NOW - timedelta(days=1)
    for i, (wait, op, answered) in enumerate(
        ((5, "op1", True), (15, "op1", True), (40, "op2", False))
    ):
        cid, start = f"c{i}", base + timedelta(minutes=10 * i)
        await opened.calls.create(CallRow(cid, "clinic-router", "1", "7495", start, line="moscow"))
        waiting = start + timedelta(seconds=3)
        await opened.calls.append_event(cid, "waiting", {"for": "queue general"}, waiting)
        end = waiting + timedelta(seconds=wait)
        result = "answered" if answered else "no_answer"
        await opened.calls.record_ring_attempt(
            call_id=cid, operator_id=op, channel_id=None, started_at=end - timedelta(seconds=2),
            ended_at=end, result=result,
        )  # fmt: skip
        if answered:
            await opened.calls.update(cid, answered_at=end, ended_at=end + timedelta(minutes=2),
                                      outcome="answered", operator_id=op)  # fmt: skip
        else:
            await opened.calls.update(cid, ended_at=end, outcome="abandoned")
    yield opened
    await opened.close()


async def test_operators_may_not_and_a_bad_period_says_why(store: Store) -> None:
    async with serving_console(store, Clock(time.time())) as console, browser() as client:
        await sign_in(client, console.base, "olga")
        async with client.get(f"{console.base}/console/reports") as resp:
            assert resp.status == 403
    async with serving_console(store, Clock(time.time())) as console, browser() as client:
        await sign_in(client, console.base, "sam")
        async with client.get(f"{console.base}/console/reports?from=monday") as resp:
            assert resp.status == 400
            assert "expected a date (2026-11-30)" in await resp.text()
        longer = "from=2020-01-01&to=2026-01-01"
        async with client.get(f"{console.base}/console/reports?{longer}") as resp:
            assert resp.status == 400
            assert "at most 366 days" in await resp.text()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (make deps)")
async def test_the_reports_page_in_a_browser(store: Store) -> None:
    async with serving_console(store, Clock(time.time())) as console, async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=shutil.which("chromium"))
        try:
            page = await chromium.new_page()
            await page.goto(f"{console.base}/console/reports")
            await page.fill("input[name=username]", "sam")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url("**/console/reports")
            # Waits 5 and 15 s answered (within 20 s), 40 s gave up: 2 of 3.
            assert (await page.text_content("#service-level") or "").strip() == "66.7 %"
            assert "Reports" in await page.inner_text("header nav")
            # Each chart drew its categories with uPlot (a canvas per chart).
            for chart, drawn in (("chart-waits", "7"), ("chart-operators", "2")):
                await page.wait_for_selector(f"#{chart}[data-drawn='{drawn}'] canvas")
            assert await page.get_attribute("#chart-hours", "data-drawn") in ("1", "2")
            # The three calls fell in one or two hours of the week: operators needed there.
            assert await page.get_attribute("#chart-staffing", "data-drawn") in ("1", "2")
            rows = await page.locator("#operators tbody tr td:first-child").all_inner_texts()
            assert rows == ["op2", "op1"]  # who does not pick up first
            if folder := os.environ.get("CLINIC_ROUTER_SCREENSHOTS"):  # for the docs
                await page.screenshot(path=str(Path(folder) / "reports.png"), full_page=True)
        finally:
            await chromium.close()
