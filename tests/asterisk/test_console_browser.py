"""The console in a real browser against calls placed into the sandbox: sign-in and
roles, and the wallboard following the waiting room live."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Dialog, Page

from sip_test_harness.instance import current
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.scenarios import PCAP_DIR
from sip_test_harness.sipp import Behaviour, Phones, place_call
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
skills: {paid: Paid, results: Results}
operators:
  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, team: front, skills: {paid: 3}}
  - {id: op1002, name: Maria, endpoint: PJSIP/op1002, team: front, skills: {paid: 3, results: 3}}
lines:
  - {id: moscow, numbers: ["74952232222"], branch: moscow, routes: main}
routes:
  main:
    - name: everyone
      then: {queue: paid}
queues:
  paid:
    max_wait_s: 60
    steps: [{after_s: 0, skills: [paid]}]
  results:  # reached only when a supervisor moves a caller there
    max_wait_s: 60
    service_level_s: 30
    steps: [{after_s: 0, skills: [results]}]
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def router(
    sandbox: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RouterProcess]:
    users = [("anna", "operator", "op1001"), ("sam", "supervisor", None), ("ada", "admin", None)]
    async with console_router(tmp_path_factory.mktemp("console"), RULES, users) as proc:
        yield proc


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def test_signed_out_is_sent_to_sign_in_and_an_operator_gets_403(
    router: RouterProcess, page: Page
) -> None:
    await page.goto(console_url(router, "wallboard"))
    assert page.url.endswith("/console/signin?next=/console/wallboard")
    await sign_in(page, router, "anna", "wallboard")
    assert "403" in await page.inner_text("h1")
    response = await page.goto(console_url(router, "wallboard"))
    assert response is not None and response.status == 403


async def test_a_form_without_its_csrf_token_is_refused(router: RouterProcess, page: Page) -> None:
    await page.goto(console_url(router, "signin"))
    await page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    await page.fill("input[name=username]", "sam")
    await page.fill("input[name=password]", "whatever-it-is")
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert "CSRF" in await page.inner_text("main")


async def _appeared_at(page: Page, selector: str) -> float:
    """Epoch seconds at which the page first showed `selector` (a MutationObserver set
    up before the change, so the time is the browser's, not this test's polling)."""
    at = await page.evaluate("""(sel) => window.__seen && window.__seen[sel]""", selector)
    assert at, f"{selector} never seen"
    return float(at) / 1000


async def _watch(page: Page, selector: str) -> None:
    await page.evaluate(
        """(sel) => {
          window.__seen = window.__seen || {};
          const mark = () => {
            if (!window.__seen[sel] && document.querySelector(sel)) {
              window.__seen[sel] = performance.timeOrigin + performance.now();
            }
          };
          new MutationObserver(mark).observe(document.body, {subtree: true, childList: true});
          mark();
        }""",
        selector,
    )


def waiting_steps(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `waiting` steps of the (one) call's journey so far."""
    return [e for c in calls for e in c["journey"] if e["kind"] == "waiting"]


async def test_a_waiting_caller_shows_within_a_second_and_goes_when_answered(
    router: RouterProcess, page: Page
) -> None:
    for op in ("op1001", "op1002"):
        await set_state(router, op, "paused", "meeting")
    await sign_in(page, router, "sam", "wallboard")
    assert page.url.endswith("/console/wallboard")
    behaviours = {"op1001": Behaviour("answer", hold=30), "op1002": Behaviour("answer")}
    async with Phones(behaviours) as phones:
        row = "tr[data-call]"
        await _watch(page, row)
        call = asyncio.create_task(place_call("79161234567", DID, hangup_after=10, timeout=40))
        try:
            await page.wait_for_selector(row, timeout=10_000)
            shown_at = await _appeared_at(page, row)
            html = await page.content()
            assert "+7 916 ***-**-67" in html and "79161234567" not in html
            await screenshot(page, "console-wallboard")
            # the journal writer stores the journey a moment after the board shows the
            # wait (the row may come first): wait for the step, then compare its time
            body = await router.wait_get("/api/calls", lambda b: waiting_steps(b["calls"]), 10)
            waited = waiting_steps(body["calls"])
            event_at = datetime.fromisoformat(waited[0]["at"]).timestamp()
            assert 0 <= shown_at - event_at < 1.0, (shown_at, event_at)
            await set_state(router, "op1001", "available")
            answered = time.monotonic()
            await page.wait_for_selector(row, state="detached", timeout=10_000)
            await page.wait_for_selector(
                "[data-operator=op1001][data-state=on_call]", timeout=5_000
            )
            assert time.monotonic() - answered < 10
        finally:
            result = await call
        assert result.ok, result.describe()
        assert phones.report()["op1001"].answered == 1


async def import_patients(router: RouterProcess, rows: list[str]) -> None:
    csv = router.workdir / "patients.csv"
    header = "patient_id,name,phones,assigned_operator,tags,birth_year\n"
    csv.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    await router.import_patients(csv)


async def test_the_card_shows_while_the_phone_rings_and_pause_stops_calls(
    router: RouterProcess, page: Page
) -> None:
    await import_patients(
        router,
        ["p-1,Ivan Orlov,+79161110001,op1002,dms,1970", "p-2,Maria Orlova,+79161110001,,,2012"],
    )
    await set_state(router, "op1001", "available")
    await set_state(router, "op1002", "paused", "meeting")
    await sign_in(page, router, "anna")
    assert page.url.endswith("/console/operator/op1001")
    behaviours = {
        "op1001": Behaviour("answer", answer_after=6, hold=3),
        "op1002": Behaviour("answer", hold=3),
    }
    async with Phones(behaviours) as phones:
        # A shared phone: the caller is first asked which patient (5 s without a key).
        call = asyncio.create_task(place_call("79161110001", DID, hangup_after=25, timeout=60))
        try:
            card = await page.wait_for_selector("[data-card][data-stage=ringing]", timeout=40_000)
            assert card is not None
            ringing = phones.report()["op1001"]
            assert ringing.invites == 1 and ringing.answered == 0  # still ringing
            text = await card.inner_text()
            assert "Ivan Orlov" in text and "Maria Orlova" in text and "same phone" in text
            assert "+79161110001" in text  # the operator on the call sees it whole
            await screenshot(page, "console-operator-card")
        finally:
            first = await call
        assert first.ok, first.describe()
        await page.wait_for_selector("[data-state=available]", timeout=15_000)
        await page.select_option("form.pause select[name=reason]", "lunch")
        await page.click("button[data-action=pause]")
        await page.wait_for_selector("section.my-state[data-state=paused]", timeout=5_000)
        assert (await page.inner_text("section.my-state .state")).startswith("paused: lunch")
        api = await router.get("/api/operators")
        anna = next(o for o in api["operators"] if o["id"] == "op1001")
        assert (anna["state"], anna["reason"]) == ("paused", "lunch")
        await set_state(router, "op1002", "available")
        second = await place_call("79990000077", DID, hangup_after=4, timeout=40)
        assert second.ok, second.describe()
        report = phones.report()
        assert report["op1001"].invites == 1  # paused from the page: not rung again
        assert report["op1002"].answered == 1


async def test_a_supervisor_moves_a_waiting_caller_to_another_queue(
    router: RouterProcess, page: Page
) -> None:
    for op in ("op1001", "op1002"):
        await set_state(router, op, "paused", "meeting")
    await sign_in(page, router, "sam", "wallboard")

    async def to_results(dialog: Dialog) -> None:
        await dialog.accept("results")

    behaviours = {"op1001": Behaviour("answer"), "op1002": Behaviour("answer")}
    async with Phones(behaviours) as phones:
        call = asyncio.create_task(place_call("79161234500", DID, hangup_after=3, timeout=40))
        try:
            move = "tr[data-call] button[data-move=queue]"
            await page.wait_for_selector(move, timeout=10_000)
            page.once("dialog", to_results)
            await page.click(move)
            # The caller now waits in results (same row, same place) and its tile shows.
            await page.wait_for_selector("[data-queue=results] [data-waiting-count]", timeout=5_000)
            row = await page.inner_text("tr[data-call]")
            assert "results" in row, row
            tile = await page.inner_text("[data-queue=results]")
            assert "1 waiting" in tile and "within 30 s" in tile, tile
            await set_state(router, "op1002", "available")
        finally:
            result = await call
        assert result.ok, result.describe()
        report = phones.report()
        assert (report["op1002"].answered, report["op1001"].invites) == (1, 0)
    calls = await router.wait_calls(1)
    moved = next(c for c in calls if c["caller"] == "+79161234500")
    kinds = [e["kind"] for e in moved["journey"]]
    assert "moved" in kinds, kinds
    event = next(e for e in moved["journey"] if e["kind"] == "moved")
    assert (event["data"]["by"], event["data"]["from"]) == ("console:sam", "queue paid")
    audit = await router.get("/api/audit?limit=5")
    entry = next(e for e in audit["entries"] if e["action"] == "caller.move")
    assert (entry["actor"], entry["details"]["ok"]) == ("sam", True)


async def test_a_caller_moved_to_an_operator_shows_that_operator(
    router: RouterProcess, page: Page
) -> None:
    """The row says whom the caller waits for now (op1002), not the queue they came from."""
    for op in ("op1001", "op1002"):
        await set_state(router, op, "paused", "meeting")
    await sign_in(page, router, "sam", "wallboard")

    async def to_maria(dialog: Dialog) -> None:
        await dialog.accept("op1002")

    behaviours = {"op1001": Behaviour("answer"), "op1002": Behaviour("answer")}
    async with Phones(behaviours) as phones:
        call = asyncio.create_task(place_call("79161234501", DID, hangup_after=3, timeout=40))
        try:
            move = "tr[data-call] button[data-move=operator]"
            await page.wait_for_selector(move, timeout=10_000)
            page.once("dialog", to_maria)
            await page.click(move)
            await page.wait_for_function(
                """() => {
                  const row = document.querySelector("tr[data-call]");
                  return row !== null && row.innerText.includes("operator op1002");
                }""",
                timeout=5_000,
            )
            row = await page.inner_text("tr[data-call]")
            assert "paid" not in row, row
            await set_state(router, "op1002", "available")
        finally:
            result = await call
        assert result.ok, result.describe()
        report = phones.report()
        assert (report["op1002"].answered, report["op1001"].invites) == (1, 0)


async def test_sign_out_ends_the_session_for_a_copied_cookie_too(
    router: RouterProcess, browser: Browser, page: Page
) -> None:
    await sign_in(page, router, "sam", "wallboard")
    assert page.url.endswith("/console/wallboard")
    other = await browser.new_context()  # another computer, with the cookie copied over
    try:
        await other.add_cookies(await page.context.cookies())  # type: ignore[arg-type]
        copy = await other.new_page()
        await copy.goto(console_url(router, "wallboard"))
        assert copy.url.endswith("/console/wallboard")  # the copy works while signed in
        await page.click("form.signout button[type=submit]")
        await page.wait_for_load_state()
        assert "/console/signin" in page.url
        await copy.goto(console_url(router, "wallboard"))
        assert "/console/signin" in copy.url, copy.url  # and no longer after sign-out
    finally:
        await other.close()


async def test_the_rules_page_simulates_a_call(router: RouterProcess, page: Page) -> None:
    await sign_in(page, router, "ada", "rules")
    assert await page.inner_text("[data-version]")
    await page.fill("input[name=line]", DID)
    await page.fill("input[name=caller]", "+79161110001")
    await page.click("form.simulate button[type=submit]")
    output = await page.wait_for_selector("pre.simulate-output", timeout=10_000)
    assert output is not None
    text = await output.inner_text()
    assert "queue paid" in text or "paid" in text, text
    await screenshot(page, "console-rules")


async def test_a_supervisor_listens_from_their_own_phone(
    router: RouterProcess, page: Page, sandbox: Any
) -> None:
    await set_state(router, "op1001", "available")
    await set_state(router, "op1002", "paused", "meeting")
    await sign_in(page, router, "sam", "wallboard")

    async def my_phone(dialog: Dialog) -> None:
        await dialog.accept("PJSIP/op1003")

    page.once("dialog", my_phone)
    # The operator's phone talks (7 s of speech from the moment it answers); the
    # supervisor's phone answers with an SDP naming this test's socket as its audio port,
    # so the test reads what Asterisk sends the supervisor: RTP carrying that voice (a
    # bridge also sends silence with nobody talking, so silence alone proves nothing).
    with _rtp_socket() as ear:
        behaviours = {
            "op1001": Behaviour("answer", audio=PCAP_DIR / "g711a.pcap"),
            "op1003": Behaviour("answer", sdp_port=ear.getsockname()[1]),
        }
        async with Phones(behaviours) as phones:
            talk = place_call("79990000088", DID, hangup_after=15, timeout=40)
            call = asyncio.create_task(talk)
            try:
                listen = "[data-operator=op1001][data-state=on_call] button[data-listen=listen]"
                await page.wait_for_selector(listen, timeout=20_000)
                await page.click(listen)
                await phones.wait_until("op1003", lambda r: r.answered == 1, timeout=15)
                channels = await asyncio.to_thread(sandbox.cli, "core show channels concise")
                assert "Snoop/" in channels, channels
                heard, voiced = await _voiced_packets(ear, wanted=25, timeout=10)
                stats = await asyncio.to_thread(sandbox.cli, "pjsip show channelstats")
                assert voiced >= 25, f"RTP to the supervisor: {heard}, {voiced} voiced\n{stats}"
            finally:
                result = await call
            assert result.ok, result.describe()
            assert phones.report()["op1003"].invites == 1
    audit = await router.get("/api/audit?limit=5")
    entry = next(e for e in audit["entries"] if e["action"] == "operator.listen")
    assert (entry["actor"], entry["target"], entry["ok"]) == ("sam", "op1001", True)


@contextmanager
def _rtp_socket() -> Iterator[socket.socket]:
    ear = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ear.bind((current().host, 0))  # the phones' address: the SDP names it (instance.py)
        ear.setblocking(False)
        yield ear
    finally:
        ear.close()


async def _voiced_packets(ear: socket.socket, *, wanted: int, timeout: float) -> tuple[int, int]:
    """RTP packets arriving at `ear`, and those whose u-law payload is not silence (0xFF /
    0x7F), counted until `wanted` voiced ones or the deadline."""
    loop = asyncio.get_running_loop()
    heard = voiced = 0
    try:
        async with asyncio.timeout(timeout):
            while voiced < wanted:
                packet = await loop.sock_recv(ear, 2048)
                heard += 1
                payload = packet[12:]  # after the fixed RTP header (no CSRC, no extension)
                if payload and any(b not in (0xFF, 0x7F) for b in payload):
                    voiced += 1
    except TimeoutError:
        pass
    return heard, voiced
