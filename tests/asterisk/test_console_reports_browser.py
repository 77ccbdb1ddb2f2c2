"""The reports page in a real browser against calls placed into the sandbox: three SIPp
calls with known outcomes (answered by one operator within the service-level target, given
up while waiting, answered by the other after a long ring), and the page's figures for
today equal to what SIPp saw and to `GET /api/reports/calls|operators`. A router of its
own, so no other test's calls are in today's figures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from router.config.settings import load_settings
from router.console.report_tables import cell
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sipp import Behaviour, CallResult, PhoneReport, Phones, place_call
from tests.asterisk.console_browser import (
    chromium,
    console_router,
    console_url,
    screenshot,
    set_state,
    sign_in,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="module")]

DID = "74952232222"
RULES = """
skills: {paid: Paid}
operators:
  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, team: front, skills: {paid: 3}}
  - {id: op1002, name: Maria, endpoint: PJSIP/op1002, team: front, skills: {paid: 3}}
lines:
  - {id: moscow, numbers: ["74952232222"], branch: moscow, routes: main}
routes:
  main:
    - name: everyone
      then: {queue: paid}
queues:
  paid:
    max_wait_s: 90
    steps: [{after_s: 0, skills: [paid]}]
"""
SL_TARGET_S = 20  # console.service_level_s's default: the page and the API use it
QUICK_RING_S = 2  # op1001 answers well within the target...
LONG_RING_S = 23  # ...op1002 only after it: the wait is at least the ring
HOLD_S = 3  # each answered call talks this long, then the operator hangs up
GIVE_UP_S = 6  # the second caller hangs up while nobody is available
OPERATOR_COLUMNS = {"rings", "answered", "answer_rate", "answer_p50_s", "paused_s.meeting"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def router(
    sandbox: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RouterProcess]:
    # op1002's ring must outlast the target: the ring timeout lets it
    folder, users = tmp_path_factory.mktemp("reports"), [("sam", "supervisor", None)]
    async with console_router(folder, RULES, users, ring_timeout_s=LONG_RING_S + 10) as proc:
        yield proc


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def today(router: RouterProcess) -> date:
    """Today in the console's time zone: the zone the page and the API read dates in."""
    zone = load_settings(router.config, env=router.env, secrets=False).console.timezone
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


@dataclass(frozen=True)
class Placed:
    """What SIPp saw of the three calls."""

    answered: CallResult  # by op1001
    given_up: CallResult
    long_wait: CallResult  # answered by op1002
    phones: dict[str, PhoneReport]

    def ring_s(self, op: str) -> float:
        (call,) = self.phones[op].calls
        assert call.answered_at is not None, call
        return call.answered_at - call.invited_at


async def place_three_calls(router: RouterProcess) -> Placed:
    behaviours = {
        "op1001": Behaviour("answer", answer_after=QUICK_RING_S, hold=HOLD_S),
        "op1002": Behaviour("answer", answer_after=LONG_RING_S, hold=HOLD_S),
    }
    async with Phones(behaviours) as phones:
        await set_state(router, "op1001", "available")
        await set_state(router, "op1002", "paused", "meeting")
        # hangup_after is a bound: the operator's phone hangs up first
        answered = await place_call("79161230001", DID, hangup_after=40, timeout=60)
        assert answered.ok, answered.describe()
        await phones.wait_idle("op1001")
        await set_state(router, "op1001", "paused", "meeting")
        given_up = await place_call("79161230002", DID, hangup_after=GIVE_UP_S, timeout=40)
        assert given_up.ok, given_up.describe()
        await set_state(router, "op1002", "available")
        long_wait = await place_call("79161230003", DID, hangup_after=70, timeout=90)
        assert long_wait.ok, long_wait.describe()
        await phones.wait_idle("op1002")
        return Placed(answered, given_up, long_wait, phones.report())


async def page_figures(page: Page) -> dict[str, str]:
    """The figures table as {heading: cell}: each <th> names the <td> after it."""
    figures: dict[str, str] = await page.eval_on_selector_all(
        "#call-figures th",
        """ths => Object.fromEntries(ths.map(
             th => [th.innerText.trim(), th.nextElementSibling.innerText.trim()]))""",
    )
    return figures


async def page_operators(page: Page) -> list[dict[str, str]]:
    """The operators' rows as {column: cell}, the column named by its row key."""
    rows: list[dict[str, str]] = await page.eval_on_selector_all(
        "#operators tbody tr",
        """trs => trs.map(tr => Object.fromEntries(
             [...tr.cells].map(td => [td.dataset.col, td.innerText.trim()])))""",
    )
    return rows


async def standing_still(router: RouterProcess, path: str) -> list[dict[str, Any]]:
    """The rows of `path` once two reads more than a second apart agree: a pause still
    on grows between them (the journal writes a state change in its next batch, and a
    report's now is a whole second: `ReportQuery.parse`)."""
    deadline = time.monotonic() + 10
    rows = (await router.get(path))["rows"]
    while time.monotonic() < deadline:
        await asyncio.sleep(1.1)  # the interval between reads, not a wait for an event
        rows, before = (await router.get(path))["rows"], rows
        if rows == before:
            return list(rows)
    raise AssertionError(f"{path} still changing: {rows}")


@pytest.mark.timeout(240)
async def test_the_reports_page_shows_the_calls_sipp_placed(
    router: RouterProcess, browser: Browser
) -> None:
    first, began = today(router), time.monotonic()
    placed = await place_three_calls(router)
    period = f"from={first}&to={today(router)}"  # one day, or two across midnight

    # What SIPp saw: three callers, the second hung up with no phone rung; op1001 took
    # the first within the target, op1002 the third after a ring longer than it.
    assert (placed.answered.hangup_by, placed.long_wait.hangup_by) == ("far_end", "far_end")
    assert placed.given_up.hangup_by == "caller"
    for op in ("op1001", "op1002"):
        assert (placed.phones[op].invites, placed.phones[op].answered) == (1, 1), op
    assert placed.ring_s("op1001") < SL_TARGET_S - 5 < SL_TARGET_S < placed.ring_s("op1002")
    offered, answered, abandoned, waited, in_target = 3, 2, 1, 3, 1

    # The router's journal writes a call's end a moment after SIPp sees it.
    calls_api = await router.wait_get(
        f"/api/reports/calls?{period}",
        lambda b: b["rows"][-1]["answered"] + b["rows"][-1]["abandoned"] == offered,
        15,
    )
    total = calls_api["rows"][-1]
    assert total["key"] == "total"
    assert (total["offered"], total["answered"], total["abandoned"]) == (
        offered,
        answered,
        abandoned,
    )
    assert (total["abandoned_waiting"], total["no_operator"], total["waited"]) == (1, 0, waited)
    assert total["service_level"] == round(in_target / waited, 4)
    # A wait is the operator's ring and the router's moments from the wait's start to the
    # ring: ASA from the SIPp phones' rings (the report rounds to 0.1 s).
    rings = placed.ring_s("op1001") + placed.ring_s("op1002")
    assert rings / 2 - 0.1 <= total["asa_s"] < rings / 2 + 3, (total["asa_s"], rings)
    ops_api = (await router.get(f"/api/reports/operators?{period}"))["rows"]
    assert [o["operator_id"] for o in ops_api] == ["op1001", "op1002"]
    for o in ops_api:
        assert (o["rings"], o["answered"], o["rang_out"], o["rejected"]) == (1, 1, 0, 0), o
        assert abs(o["answer_p50_s"] - placed.ring_s(o["operator_id"])) < 1.5, o
        assert abs(o["talk_total_s"] - HOLD_S) < 1.5, o
        # Paused (both, for a while; op1001 still) and wrap-up: never longer than this
        # test has run, though the period runs to midnight (a pause still on counts to
        # now, not to the period's end).
        states = {k: v for k, v in o.items() if k.startswith(("paused_s.", "wrap_up_s"))}
        assert "paused_s.meeting" in states, o
        assert all(0 <= v <= time.monotonic() - began for v in states.values()), o
    # op1001's pause ends, so the figures stand still while the page and the API are read.
    await set_state(router, "op1001", "available")
    ops_api = await standing_still(router, f"/api/reports/operators?{period}")

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        await sign_in(page, router, "sam", "reports")
        await page.goto(console_url(router, f"reports?{period}"))
        figures = await page_figures(page)
        for heading, key, sipp in (
            ("offered", "offered", offered),
            ("answered", "answered", answered),
            ("abandoned", "abandoned", abandoned),
            ("no operator", "no_operator", 0),
        ):
            assert figures[heading] == str(total[key]) == str(sipp), (heading, figures)
        level = figures[f"service level ({SL_TARGET_S} s)"]
        assert level == cell("service_level", total["service_level"]) == "33.3 %", figures
        assert figures["ASA"] == cell("asa_s", total["asa_s"]), figures
        p50, p90 = cell("wait_p50_s", total["wait_p50_s"]), cell("wait_p90_s", total["wait_p90_s"])
        assert figures["wait p50 / p90"] == f"{p50} / {p90}", figures

        # Every column of the operators' table is the API's row, in the page's units.
        rows = await page_operators(page)
        assert [r["operator_id"] for r in rows] == [o["operator_id"] for o in ops_api], rows
        for row, o in zip(rows, ops_api, strict=True):
            assert row.keys() >= OPERATOR_COLUMNS, row
            assert row == {k: cell(k, o.get(k)) for k in row}, (row, o)
        # The charts are drawn (uPlot's canvas) before the screenshot for the docs.
        for chart, drawn in (("chart-waits", "7"), ("chart-operators", "2")):
            await page.wait_for_selector(f"#{chart}[data-drawn='{drawn}'] canvas")
        await page.wait_for_selector("#chart-hours[data-drawn] canvas")
        await page.wait_for_selector("#chart-staffing[data-drawn] canvas")
        await screenshot(page, "console-reports")
    finally:
        await context.close()
