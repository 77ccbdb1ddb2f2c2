"""The operator page on a real server: state buttons through the board's one rule, the
patient card while the phone rings (a shared phone too), notes, and who may open it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from console_support import Caller, Live, browser, csrf_of, next_board, sign_in

from router.domain.miss_target import MissTarget
from router.domain.operators import Presence
from router.storage import Appointment, CallRow, MissInput, PatientRecord


async def _post(client: aiohttp.ClientSession, url: str, data: dict[str, str]) -> int:
    async with client.get(url.rsplit("/", 1)[0]) as page:
        token = csrf_of(await page.text())
    async with client.post(url, data={**data, "csrf_token": token}, allow_redirects=False) as r:
        return r.status


async def test_my_state_in_one_click_goes_through_the_boards_rule(live: Live) -> None:
    base = f"{live.console.base}/console/operator/op1001"
    async with browser() as client:
        await sign_in(client, live.console.base, "olga")
        assert await _post(client, f"{base}/state", {"state": "available"}) == 303
        assert live.board.get("op1001").presence is Presence.AVAILABLE
        live.board.reserve("op1001")  # a call rings the phone: the call owns the state
        assert await _post(client, f"{base}/state", {"state": "paused", "reason": "lunch"}) == 303
        status = live.board.get("op1001")
        assert status.presence is Presence.RINGING
        assert status.pending is not None and status.pending.reason == "lunch"
        assert await _post(client, f"{base}/state", {"state": "ringing"}) == 400
    audit = await live.store.audit.recent(limit=5)
    assert [(e.actor, e.action, e.details.get("applied")) for e in audit[:2]] == [
        ("olga", "operator.state", False),
        ("olga", "operator.state", True),
    ]


async def test_an_operator_cannot_open_another_operators_page(live: Live) -> None:
    async with browser() as client:
        await sign_in(client, live.console.base, "olga")
        for path in ("op1002", "op1002/events"):
            async with client.get(f"{live.console.base}/console/operator/{path}") as resp:
                assert resp.status == 403
        status = await _post(
            client, f"{live.console.base}/console/operator/op1001/state", {"state": "offline"}
        )
        assert status == 303
        async with client.post(
            f"{live.console.base}/console/operator/op1002/state",
            data={"state": "offline", "csrf_token": "x"},
        ) as resp:
            assert resp.status == 403
    assert live.board.get("op1002").presence is Presence.PAUSED


async def test_the_card_shows_the_family_on_a_shared_phone_while_it_rings(live: Live) -> None:
    now = datetime.now(UTC)
    await live.store.patients.upsert(
        [
            PatientRecord(
                "p-1",
                "Ivan Orlov",
                ("+79161234567",),
                "op1002",
                None,
                ("dms",),
                birth_year=1970,
                appointments=(Appointment(now + timedelta(days=1)),),
            ),
            PatientRecord("p-2", "Maria Orlova", ("+79161234567",), birth_year=2012),
        ]
    )
    await live.store.callbacks.record_miss(
        MissInput(
            "old-1",
            "moscow",
            "+79161234567",
            "p-1",
            "abandoned",
            20.0,
            now - timedelta(hours=2),
            now - timedelta(hours=2),
            True,
        )
    )
    live.board.set("op1001", Presence.AVAILABLE)
    live.board.reserve("op1001")
    live.calls["c-9"] = Caller(
        "c-9",
        "+79161234567",
        ["main:3"],
        tried=["op1001"],
        patient_id="p-2",
        miss_target=MissTarget(line="moscow", queue="dms"),
    )
    async with browser() as olga, browser() as sam:
        await sign_in(olga, live.console.base, "olga")
        await sign_in(sam, live.console.base, "sam")
        async with olga.get(f"{live.console.base}/console/operator/op1001") as page:
            html = await page.text()
        async with sam.get(f"{live.console.base}/console/operator/op1001") as page:
            supervisor_html = await page.text()
    assert 'data-card="c-9" data-stage="ringing"' in html
    assert "+79161234567" in html  # the operator on the call sees the number whole
    assert html.index("Maria Orlova") < html.index("Ivan Orlov")  # the call's patient first
    assert "same phone" in html and "dms" in html and "main:3" in html
    assert "abandoned" in html and "open callback task" in html
    assert "+79161234567" not in supervisor_html and "+7 916 ***-**-67" in supervisor_html


async def test_a_note_is_saved_on_the_journey_of_my_call(live: Live) -> None:
    started = datetime.now(UTC) - timedelta(minutes=3)
    row = CallRow(
        "c-7",
        "clinic-router",
        "+79161234567",
        "74952232222",
        started,
        operator_id="op1001",
        answered_at=started + timedelta(seconds=20),
    )
    await live.store.calls.create(row)
    other = CallRow(
        "c-8",
        "clinic-router",
        "+79160000000",
        "74952232222",
        started,
        operator_id="op1002",
        answered_at=started,
    )
    await live.store.calls.create(other)
    base = f"{live.console.base}/console/operator/op1001"
    async with browser() as client:
        await sign_in(client, live.console.base, "olga")
        async with client.get(base) as page:
            assert 'name="call_id" value="c-7"' in await page.text()
        data = {"call_id": "c-7", "disposition": "booked", "note": "visit on Friday"}
        assert await _post(client, f"{base}/note", data) == 303
        assert await _post(client, f"{base}/note", {**data, "call_id": "c-8"}) == 400
    events = await live.store.calls.events("c-7")
    assert [(e.kind, e.data["disposition"], e.data["by"]) for e in events] == [
        ("operator_note", "booked", "olga")
    ]


async def test_the_card_reaches_an_open_operator_page_while_it_rings(live: Live) -> None:
    live.board.set("op1001", Presence.AVAILABLE)
    async with browser() as client:
        await sign_in(client, live.console.base, "olga")
        url = f"{live.console.base}/console/operator/op1001/events"
        async with client.get(url) as stream:
            first = await next_board(stream, 2)
            assert 'data-state="available"' in first and "data-card" not in first
            live.board.reserve("op1001")  # the room reserves before the call names the ring
            live.calls["c-5"] = Caller("c-5", "+79161234567", tried=["op1001"])
            ringing = await next_board(stream, 1)
            if "data-card" not in ringing:  # the reservation alone came first
                ringing = await next_board(stream, 1)
    assert 'data-card="c-5" data-stage="ringing"' in ringing
    assert "+79161234567" in ringing


async def test_my_callback_tasks_show_the_attempt_in_progress(live: Live) -> None:
    missed = datetime.now(UTC) - timedelta(hours=1)
    await live.store.callbacks.record_miss(
        MissInput("m-2", "moscow", "+79160000001", None, "abandoned", 30.0, missed, missed, True)
    )
    now = datetime.now(UTC)
    (task,) = await live.store.callbacks.claim_due(now, "router-a")
    assert await live.store.callbacks.start_attempt(task.id, "router-a", now, "op1001")
    async with browser() as client:
        await sign_in(client, live.console.base, "olga")
        async with client.get(f"{live.console.base}/console/operator/op1001") as page:
            html = await page.text()
    assert f'data-task="{task.id}"' in html and "calling now: operator" in html
