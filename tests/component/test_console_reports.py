"""The console's reports page: every figure of `clinic-router report calls|operators|misses|
compare` in a real browser (Debian chromium via Playwright, no Asterisk needed), equal to
the API's rows cell by cell and to figures worked out by hand; the CSV downloads with the
session; who may see them, and a period it cannot read."""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from api_support import TOKEN
from console_support import PASSWORD, Clock, add_users, browser, serving_console, sign_in
from playwright.async_api import Page, async_playwright
from sqlalchemy import insert

from router.console.report_tables import cell, percent, seconds
from router.storage import Store
from router.storage.models import CallRow
from router.storage.tables import callback_tasks, misses

TZ = ZoneInfo("Europe/Moscow")  # ConsoleSettings' default, and the API's
NOW = datetime.now(UTC).replace(microsecond=0)
DAY: date = NOW.astimezone(TZ).date() - timedelta(days=2)  # settled, whole, in the past
PERIOD = f"from={DAY}&to={DAY}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(UTC)


async def _call(
    store: Store,
    cid: str,
    start: datetime,
    line: str,
    *,
    wait: float | None,
    ring: tuple[str, str] | None = None,
    known: bool = False,
) -> None:
    """A call that waits `wait` s (None: hangs up in the menu after 30 s) after 3 s in the
    menu; `ring`: (operator, result) of one ring that ends when the wait does, 2 s long
    (the answered ones talk 2 min)."""
    patient = "p1" if known else None
    await store.calls.create(
        CallRow(cid, "clinic-router", "1", "7495", start, line=line, patient_id=patient)
    )
    if wait is None:
        await store.calls.update(cid, ended_at=start + timedelta(seconds=30), outcome="abandoned")
        return
    waiting = start + timedelta(seconds=3)
    await store.calls.append_event(cid, "waiting", {"for": "queue general"}, waiting)
    end = waiting + timedelta(seconds=wait)
    if ring is not None:
        await store.calls.record_ring_attempt(
            call_id=cid, operator_id=ring[0], channel_id=None,
            started_at=end - timedelta(seconds=2), ended_at=end, result=ring[1],
        )  # fmt: skip
    if ring is not None and ring[1] == "answered":
        await store.calls.update(cid, answered_at=end, ended_at=end + timedelta(minutes=2),
                                 outcome="answered", operator_id=ring[0])  # fmt: skip
    else:
        await store.calls.update(cid, ended_at=end, outcome="abandoned")


async def _ledger(store: Store) -> None:
    """200 misses on DAY, each its own task: 150 called back (2 attempts, the first a
    minute after the miss, reached at 10 min), 40 unreachable, 9 closed by hand, 1 still
    open and overdue; 2 of the misses the dialplan fallback's (no call row: offered calls
    of their own), and one more miss that joins the first task an hour later."""
    tasks: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    for i in range(200):
        at = _at(DAY, 12) + timedelta(minutes=i)
        close = (
            "connected" if i < 150 else "unreachable" if i < 190 else "done" if i < 199 else None
        )
        tasks.append({
            "number_e164": f"+7916000{i:04d}", "line": "spb", "reasons": ["abandoned"],
            "state": "closed" if close else "open", "miss_count": 1, "first_missed_at": at,
            "last_missed_at": at, "due_at": at, "attempts": 2 if i < 150 else 3 if i < 190 else 0,
            "first_attempt_at": at + timedelta(minutes=1) if i < 190 else None,
            "closed_at": None if close is None else at + timedelta(minutes=10 if i < 150 else 120),
            "close_reason": close, "closed_by": "op1" if close else None,
            "created_at": at, "keep_place": False, "priority": 0,
        })  # fmt: skip
        reason = "fallback_unanswered" if i < 2 else "abandoned" if i < 150 else "no_operator"
        missed.append({
            "call_id": f"m{i}", "line": "spb", "number_e164": "+7916", "waited_s": 1.0,
            "reason": reason, "missed_at": at, "task_id": i, "anonymous": False,
        })  # fmt: skip
    later = missed[0]["missed_at"] + timedelta(hours=1)
    again = {**missed[2], "call_id": "m-again", "missed_at": later, "task_id": 0}
    async with store.db.begin() as conn:
        made = await conn.execute(
            insert(callback_tasks).returning(callback_tasks.c.id, sort_by_parameter_order=True),
            tasks,
        )
        ids = made.scalars().all()
        await conn.execute(
            insert(misses), [{**m, "task_id": ids[m["task_id"]]} for m in [*missed, again]]
        )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """DAY, 10:00: a known caller waits 5 s and op1 answers; callers wait 15 s (op1
    answers) and 40 s (op2 lets it ring out, the caller gives up) on line moscow; on spb
    one hangs up in the menu and one while op1's phone rings after 8 s. The day before,
    one caller on moscow waits 30 s for op1. Then the misses and tasks of `_ledger`."""
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'console.db'}", migrate=True)
    await add_users(opened)
    base = _at(DAY, 10)
    await _call(opened, "c0", base, "moscow", wait=5, ring=("op1", "answered"), known=True)
    await _call(
        opened, "c1", base + timedelta(minutes=10), "moscow", wait=15, ring=("op1", "answered")
    )
    await _call(
        opened, "c2", base + timedelta(minutes=20), "moscow", wait=40, ring=("op2", "no_answer")
    )
    await _call(opened, "c3", base + timedelta(minutes=30), "spb", wait=None)
    await _call(
        opened, "c4", base + timedelta(minutes=40), "spb", wait=8, ring=("op1", "cancelled")
    )
    before = _at(DAY - timedelta(days=1), 10)
    await _call(opened, "b0", before, "moscow", wait=30, ring=("op1", "answered"))
    await _ledger(opened)
    yield opened
    await opened.close()


async def test_operators_may_not_and_a_bad_period_says_why(store: Store) -> None:
    async with serving_console(store, Clock(time.time())) as console, browser() as client:
        await sign_in(client, console.base, "olga")
        for path in ("reports", f"reports/calls.csv?{PERIOD}", "reports/misses.csv"):
            async with client.get(f"{console.base}/console/{path}") as resp:
                assert resp.status == 403, path
    async with serving_console(store, Clock(time.time())) as console, browser() as client:
        async with client.get(
            f"{console.base}/console/reports/calls.csv", allow_redirects=False
        ) as resp:
            assert resp.status == 303 and "/console/signin" in resp.headers["Location"]
        await sign_in(client, console.base, "sam")
        async with client.get(f"{console.base}/console/reports?from=monday") as resp:
            assert resp.status == 400
            assert "expected a date (2026-11-30)" in await resp.text()
        longer = "from=2020-01-01&to=2026-01-01"
        async with client.get(f"{console.base}/console/reports?{longer}") as resp:
            assert resp.status == 400
            assert "at most 366 days" in await resp.text()
        async with client.get(f"{console.base}/console/reports?by=week") as resp:
            assert resp.status == 400
            assert "expected one of total, line, branch" in await resp.text()
        async with client.get(f"{console.base}/console/reports/calls.csv?to=monday") as resp:
            assert resp.status == 400


async def test_the_csv_is_the_apis(store: Store) -> None:
    """Each section's CSV with a supervisor's session is byte for byte the API's."""
    async with serving_console(store, Clock(time.time())) as console, browser() as client:
        await sign_in(client, console.base, "sam")
        for section, extra in (("calls", "&by=line"), ("operators", ""), ("misses", ""),
                               ("compare", ""), ("staffing", "")):  # fmt: skip
            query = f"{PERIOD}{extra}"
            async with client.get(f"{console.base}/console/reports/{section}.csv?{query}") as resp:
                assert resp.status == 200, section
                assert resp.content_type == "text/csv"
                assert f'filename="{section}-{DAY:%Y%m%d}-' in resp.headers["Content-Disposition"]
                ours = await resp.text()
            api = f"{console.base}/api/reports/{section}?{query}&format=csv"
            async with client.get(api, headers=AUTH) as resp:
                assert resp.status == 200
                assert ours == await resp.text(), section
            if section == "misses":
                figures = {r["figure"]: r["value"] for r in csv.DictReader(io.StringIO(ours))}
                assert figures["worked_share"] == "0.995" and figures["misses"] == "201"
            if section == "calls":
                keys = [r["key"] for r in csv.DictReader(io.StringIO(ours))]
                assert keys == ["moscow", "spb", "total"]


def test_shares_and_times_in_a_persons_units() -> None:
    assert percent(199 / 200) == "99.5 %"
    assert percent(0.9995) == "99.9 %" and percent(0.99999) == "99.9 %"  # not all: not 100
    assert percent(1.0) == "100.0 %" and percent(0.0) == "0.0 %"
    assert percent(0.0004) == "0.1 %"  # some: not 0
    assert percent(2 / 3) == "66.7 %"
    assert seconds(5) == "5 s" and seconds(11.5) == "11.5 s" and seconds(59.94) == "59.9 s"
    assert seconds(60) == "1 min 00 s" and seconds(245.4) == "4 min 05 s"
    assert seconds(7380) == "2 h 03 min"
    assert cell("wait_p50_s", None) == "—" and cell("answer_rate", 0.5) == "50.0 %"
    assert cell("paused_s.lunch", 90.0) == "1 min 30 s" and cell("attempts_per_success", 2.0) == "2"


async def _table(page: Page, table: str) -> dict[str, dict[str, str]]:
    """A grouped table's cells: row key -> column key -> text."""
    cells: dict[str, dict[str, str]] = await page.eval_on_selector(
        f"#{table}",
        """t => Object.fromEntries([...t.querySelectorAll('tbody tr[data-key]')].map(r =>
            [r.dataset.key, Object.fromEntries([...r.querySelectorAll('td')].map(
                td => [td.dataset.col, td.textContent.trim()]))]))""",
    )
    return cells


async def _figures(page: Page, selector: str) -> dict[str, list[str]]:
    """A figure table's rows: figure -> its cells' texts (label first)."""
    rows: dict[str, list[str]] = await page.eval_on_selector_all(
        f"{selector} tr[data-figure]",
        """rows => Object.fromEntries(rows.map(r =>
            [r.dataset.figure, [...r.children].map(c => c.textContent.trim())]))""",
    )
    return rows


async def _api(client: Any, base: str, section: str, query: str) -> list[dict[str, Any]]:
    async with client.get(f"{base}/api/reports/{section}?{query}", headers=AUTH) as resp:
        assert resp.status == 200
        rows: list[dict[str, Any]] = (await resp.json())["rows"]
        return rows


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (make deps)")
async def test_the_reports_page_in_a_browser(store: Store) -> None:
    async with (
        serving_console(store, Clock(time.time())) as console,
        async_playwright() as pw,
        browser() as api,
    ):
        chromium = await pw.chromium.launch(executable_path=shutil.which("chromium"))
        try:
            page = await chromium.new_page()
            await page.goto(f"{console.base}/console/reports")
            await page.fill("input[name=username]", "sam")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url("**/console/reports")
            assert "Reports" in await page.inner_text("header nav")
            await page.goto(f"{console.base}/console/reports?{PERIOD}")
            # Waits 5 and 15 s answered within 20 s; 40 s and 8 s gave up: 2 of 4.
            assert (await page.text_content("#service-level") or "").strip() == "50.0 %"
            # 199 of the 200 tasks closed: not "100 %".
            assert (await page.text_content("#misses-worked") or "").strip() == "99.5 %"
            # Each chart drew its categories with uPlot (a canvas per chart).
            for chart, drawn in (("chart-waits", "7"), ("chart-operators", "2")):
                await page.wait_for_selector(f"#{chart}[data-drawn='{drawn}'] canvas")
            # The calls at 10:00-10:40 and the fallback's misses at 12:00: two hours.
            assert await page.get_attribute("#chart-hours", "data-drawn") == "2"
            assert await page.get_attribute("#chart-staffing", "data-drawn") in ("1", "2", "3")
            rows = await page.locator("#operators tbody tr td:first-child").all_inner_texts()
            assert rows == ["op2", "op1"]  # who does not pick up first

            # Calls: one row, the period's; by hand, then every column equal to the API's.
            calls = await _table(page, "calls")
            assert list(calls) == ["total"]
            total = calls["total"]
            assert (total["offered"], total["answered"], total["waited"]) == ("7", "2", "4")
            assert [total[k] for k in ("abandoned", "abandoned_in_menu", "abandoned_waiting",
                                       "abandoned_ringing")] == ["3", "1", "1", "1"]  # fmt: skip
            assert (total["no_operator"], total["fallback"]) == ("2", "2")  # the fallback's misses
            assert (total["service_level"], total["asa_s"]) == ("50.0 %", "10 s")
            # waits 5, 8, 15, 40: p50 between 8 and 15, p90 at 0.7 between 15 and 40
            assert (total["wait_p50_s"], total["wait_p90_s"], total["wait_max_s"]) == (
                "11.5 s", "32.5 s", "40 s")  # fmt: skip
            assert (total["talk_avg_s"], total["talk_total_s"]) == ("2 min 00 s", "4 min 00 s")
            # to the first ring: known 3 + 5 - 2 = 6 s; unknown 16, 41, 9: the median 16
            assert (total["route_known_s"], total["route_unknown_s"]) == ("6 s", "16 s")
            await _same_as_api(page, api, console.base, "calls", f"{PERIOD}", "key")

            # The by-choice, as the CLI's --by.
            await page.select_option("select[name=by]", "line")
            await page.click("form.filters button[type=submit]")
            await page.wait_for_url("**by=line**")
            calls = await _table(page, "calls")
            assert list(calls) == ["moscow", "spb", "total"]
            assert calls["moscow"]["service_level"] == "66.7 %"  # 2 of 3 within 20 s
            assert (calls["spb"]["offered"], calls["spb"]["service_level"]) == ("4", "0.0 %")
            await _same_as_api(page, api, console.base, "calls", f"{PERIOD}&by=line", "key")
            csv_link = await page.get_attribute("#csv-calls", "href")
            assert csv_link is not None and "by=line" in csv_link and f"from={DAY}" in csv_link

            # Operators: op2 let its one ring ring out; op1 answered 2, 1 caller hung up.
            ops = await _table(page, "operators")
            assert (ops["op2"]["rings"], ops["op2"]["rang_out"], ops["op2"]["answer_rate"]) == (
                "1", "1", "0.0 %")  # fmt: skip
            assert [ops["op1"][k] for k in ("rings", "answered", "caller_left", "answer_rate",
                                            "answer_p50_s", "talk_total_s")] == [
                "3", "2", "1", "100.0 %", "2 s", "4 min 00 s"]  # fmt: skip
            await _same_as_api(page, api, console.base, "operators", PERIOD, "operator_id")

            # Misses and callbacks.
            figures = await _figures(page, "#misses")
            expected = {
                "misses": "201", "by_source.router": "199", "by_source.fallback": "2",
                "by_reason.abandoned": "149", "by_reason.no_operator": "50",
                "by_reason.fallback_unanswered": "2", "tasks_created": "200", "merged": "1",
                "reached": "150", "called_back": "150", "called_in": "0", "unreachable": "40",
                "closed_other.done": "9", "worked_share": "99.5 %",
                "first_attempt_p50_s": "1 min 00 s", "reached_p50_s": "10 min 00 s",
                "attempts_per_success": "2", "open_now": "1", "overdue_now": "1",
            }  # fmt: skip
            assert {k: figures[k][1] for k in expected} == expected
            api_misses = await _api(api, console.base, "misses", PERIOD)
            assert {r["figure"]: cell(r["figure"], r["value"]) for r in api_misses} == {
                k: v[1] for k, v in figures.items()
            }

            # Against the day before: one call then, answered after 30 s.
            changes = await _figures(page, "#compare")
            assert changes["calls.offered"][1:] == ["7", "1", "+600.0 %"]
            assert changes["calls.answered"][1:] == ["2", "1", "+100.0 %"]
            assert changes["calls.service_level"][1:] == ["50.0 %", "0.0 %", "—"]
            assert changes["misses.misses"][1:] == ["201", "0", "—"]
            api_compare = await _api(api, console.base, "compare", PERIOD)
            assert [r["figure"] for r in api_compare] == list(changes)
            if folder := os.environ.get("CLINIC_ROUTER_SCREENSHOTS"):  # for the docs
                await page.screenshot(path=str(Path(folder) / "reports.png"), full_page=True)
        finally:
            await chromium.close()


async def _same_as_api(
    page: Page, client: Any, base: str, section: str, query: str, key: str
) -> None:
    """Every column of every row of the API's section is on the page, in the page's units."""
    shown = await _table(page, section)
    rows = await _api(client, base, section, query)
    assert [str(r[key]) for r in rows] == list(shown)
    for row in rows:
        assert {k: cell(k, v) for k, v in row.items()} == shown[str(row[key])]
