"""Supervisors' views and actions on a real server: calls, the callback ledger, the rules
page with simulate, pausing an operator from the wallboard; each action audited."""

from __future__ import annotations

import argparse
import asyncio
import html as html_lib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_support import (
    Caller,
    Clock,
    Live,
    add_users,
    browser,
    csrf_of,
    live_console,
    serving_console,
    sign_in,
)
from storage_support import empty_database, migrated_store

from router.cli.simulate import render_text, simulate
from router.config.live_rules import LiveRules
from router.config.rules import load_rules
from router.config.settings import DatabaseSettings
from router.domain.operators import Presence
from router.storage import CallRow, MissInput, Store
from router.storage.migrate import migrate
from router.storage.models import PatientRecord

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def with_rules(tmp_path: Path) -> AsyncIterator[Live]:
    path = REPO / "config" / "rules.yaml"
    async with migrated_store("sqlite", tmp_path) as store:
        await add_users(store)
        async with live_console(store, rules=LiveRules(path, load_rules(path))) as running:
            yield running


async def _token(client, url: str) -> str:  # type: ignore[no-untyped-def]
    async with client.get(url) as page:
        return csrf_of(await page.text())


async def test_the_calls_view_filters_by_number_in_the_body_and_masks(live: Live) -> None:
    now = datetime.now(UTC)
    given = [("+79161234567", "answered"), ("+79160000000", "abandoned")]
    for n, (number, outcome) in enumerate(given):
        row = CallRow(
            f"c-{n}",
            "clinic-router",
            number,
            "74952232222",
            now - timedelta(minutes=n),
            caller_e164=number,
            outcome=outcome,
            line="moscow",
        )
        await live.store.calls.create(row)
        await live.store.calls.append_event(f"c-{n}", "identified", {"patients": 0}, now)
    base = f"{live.console.base}/console/calls"
    async with browser() as client:
        await sign_in(client, live.console.base, "sam")
        async with client.get(base) as page:
            html = await page.text()
        assert 'data-call="c-0"' in html and 'data-call="c-1"' in html
        assert "+79161234567" not in html and "+7 916 ***-**-67" in html
        token = await _token(client, base)
        data = {"number": "8 916 123-45-67", "csrf_token": token}
        async with client.post(base, data=data) as page:
            html = await page.text()
            assert str(page.url).endswith("/console/calls")  # the number is not in the URL
        assert 'data-call="c-0"' in html and 'data-call="c-1"' not in html
        async with client.get(f"{base}?outcome=abandoned") as page:
            html = await page.text()
        assert 'data-call="c-1"' in html and 'data-call="c-0"' not in html
        async with client.get(f"{base}?number=%2B79161234567") as page:
            html = await page.text()  # a number in the address is never used as a filter
        assert 'data-call="c-0"' in html and 'data-call="c-1"' in html
        assert "filtered by a number" not in html


async def test_the_audit_log_filters_by_user_in_the_body_only(live: Live) -> None:
    base = f"{live.console.base}/console/audit"
    async with browser() as client:
        await sign_in(client, live.console.base, "sam")
        await sign_in(client, live.console.base, "ada")
        async with client.get(f"{base}?actor=sam") as page:
            html = await page.text()
        assert html.count("<td>sam</td>") == 1 and "<td>ada</td>" in html  # not filtered
        token = await _token(client, base)
        async with client.post(base, data={"actor": "sam", "csrf_token": token}) as page:
            html = await page.text()
            assert str(page.url).endswith("/console/audit")
        assert "<td>sam</td>" in html and "<td>ada</td>" not in html


async def test_operators_may_not_read_calls_or_callbacks(live: Live) -> None:
    async with browser() as client:
        await sign_in(client, live.console.base, "olga")
        for path in ("calls", "callbacks"):
            async with client.get(f"{live.console.base}/console/{path}") as resp:
                assert resp.status == 403


async def test_call_back_now_and_close_a_task_are_audited(live: Live) -> None:
    later = datetime.now(UTC) + timedelta(hours=3)
    result = await live.store.callbacks.record_miss(
        MissInput("m-1", "moscow", "+79161234567", None, "abandoned", 30.0, later, later, True)
    )
    task_id = result.task_id
    assert task_id is not None
    woken: list[bool] = []
    live.store.callbacks.add_task_listener(lambda: woken.append(True))  # the dispatcher's wake
    base = f"{live.console.base}/console/callbacks"
    async with browser() as client:
        await sign_in(client, live.console.base, "sam")
        async with client.get(base) as page:
            html = await page.text()
        assert f'data-task="{task_id}"' in html and "+7 916 ***-**-67" in html
        token = csrf_of(html)
        async with client.post(
            f"{base}/{task_id}/now", data={"csrf_token": token}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        task = await live.store.callbacks.get(task_id)
        assert task is not None and task.due_at <= datetime.now(UTC)
        assert woken == [True]  # told at once, not at the dispatcher's next scan
        data = {"csrf_token": token, "how": "done", "note": "called from my mobile"}
        async with client.post(f"{base}/{task_id}/close", data=data, allow_redirects=False) as resp:
            assert resp.status == 303
        async with client.post(f"{base}/{task_id}/close", data=data, allow_redirects=False) as resp:
            assert resp.status == 409
    closed = await live.store.callbacks.get(task_id)
    assert closed is not None and closed.closed_by == "console:sam" and closed.note
    actions = [(e.actor, e.action, e.target) for e in await live.store.audit.recent(limit=3)]
    assert ("sam", "callback.done", str(task_id)) in actions
    assert ("sam", "callback.now", str(task_id)) in actions


async def test_a_supervisor_pauses_an_operator_from_the_wallboard(live: Live) -> None:
    live.board.set("op1001", Presence.AVAILABLE)
    url = f"{live.console.base}/console/supervise/operator/op1001/state"
    async with browser() as client:
        await sign_in(client, live.console.base, "sam")
        token = await _token(client, f"{live.console.base}/console/wallboard")
        data = {"state": "paused", "reason": "coaching"}
        async with client.post(url, data=data) as resp:
            assert resp.status == 403  # no CSRF header
        async with client.post(url, data=data, headers={"X-CSRF-Token": token}) as resp:
            assert resp.status == 204
    status = live.board.get("op1001")
    assert (status.presence, status.reason) == (Presence.PAUSED, "coaching")
    entry = (await live.store.audit.recent(limit=1))[0]
    assert (entry.actor, entry.action, entry.target) == ("sam", "operator.state", "op1001")


async def test_the_rules_page_simulates_as_the_cli_does(tmp_path: Path) -> None:
    """The page prints what `clinic-router simulate` prints for the rules in force (here
    the file on disk was edited since, and not reloaded) and the router's patient store."""
    in_force = (REPO / "config" / "rules.yaml").read_text(encoding="utf-8")
    (tmp_path / "in_force.yaml").write_text(in_force, encoding="utf-8")
    on_disk = tmp_path / "rules.yaml"
    on_disk.write_text(in_force, encoding="utf-8")
    live_rules = LiveRules(on_disk, load_rules(on_disk))
    on_disk.write_text(in_force.replace("74952232222", "74950000000"), encoding="utf-8")
    async with empty_database("sqlite", tmp_path) as url:
        await migrate(url)
        store = await Store.open(url)
        try:
            await add_users(store)
            await store.patients.upsert(
                [PatientRecord("p-1", "Ivan Orlov", ("+79161234567",), "op1002", None, ("dms",))]
            )
            settings_file = tmp_path / "router.yaml"
            settings_file.write_text(
                f"database:\n  url: {url}\nrouting:\n  rules: in_force.yaml\n", encoding="utf-8"
            )
            db = DatabaseSettings.model_validate({"url": url}, context={"base_dir": tmp_path})
            async with serving_console(
                store, Clock(time.time()), rules=live_rules, database_url=db.display_url
            ) as console:
                html = await _simulated(console.base)
        finally:
            await store.close()
    fields = {"line": "+74952232222", "caller": "+79161234567", "at": "2026-12-02 10:00"}
    args = argparse.Namespace(
        **fields, press=["1"], operators_state=None, patients=None,
        appointment=None, config=str(settings_file), format="text",
    )  # fmt: skip
    expected = render_text(await asyncio.to_thread(simulate, args))  # it runs its own loop
    assert "patient p-1 Ivan Orlov" in expected and "no line lists" not in expected
    assert html_lib.escape(expected, quote=False) in html


async def _simulated(base: str) -> str:
    async with browser() as admin, browser() as supervisor:
        await sign_in(supervisor, base, "sam")
        async with supervisor.get(f"{base}/console/rules") as resp:
            assert resp.status == 403
        await sign_in(admin, base, "ada")
        token = await _token(admin, f"{base}/console/rules")
        fields = {"line": "+74952232222", "caller": "+79161234567", "at": "2026-12-02 10:00"}
        data = {**fields, "press": "1", "csrf_token": token}
        async with admin.post(f"{base}/console/rules", data=data) as page:
            html = await page.text()
    assert "Last rejected edit" in html
    return html


async def test_listen_needs_a_talking_operator_a_phone_and_the_role(live: Live) -> None:
    url = f"{live.console.base}/console/supervise/operator/op1001/listen"
    async with browser() as olga, browser() as sam:
        await sign_in(olga, live.console.base, "olga")
        await sign_in(sam, live.console.base, "sam")
        token = await _token(olga, f"{live.console.base}/console/operator/op1001")
        data = {"mode": "listen", "phone": "PJSIP/op1008"}
        async with olga.post(url, data=data, headers={"X-CSRF-Token": token}) as resp:
            assert resp.status == 403
        token = await _token(sam, f"{live.console.base}/console/wallboard")
        headers = {"X-CSRF-Token": token}
        for outside in (
            "op1008",
            "PJSIP/patients/79991234567",
            "PJSIP/79991234567@trunk",
            "Local/79991234567@from-internal",
            "SIP/op1008",
        ):
            async with sam.post(url, data={**data, "phone": outside}, headers=headers) as resp:
                assert resp.status == 400, outside
        async with sam.post(url, data=data, headers=headers) as resp:
            assert resp.status == 409  # op1001 is not talking
        live.board.set("op1001", Presence.ON_CALL)
        live.calls["c-1"] = Caller(
            "c-1", "+79161234567", operator_id="op1001", operator_channel="c-1-op-1"
        )
        async with sam.post(url, data=data, headers=headers) as resp:
            assert resp.status == 503  # no engine in this test: nobody to ring
