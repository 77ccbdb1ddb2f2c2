"""Calls, journeys and ring attempts, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from storage_support import BACKENDS, migrated_store

from router.domain.calls import Outcome, Phase, RingResult
from router.storage import CallRow, Store
from router.storage.migrate import migrate

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HOSTILE = [
    "'",
    "\"quoted\" and 'single'",
    "'; DROP TABLE calls; --",
    "Robert'); DROP TABLE call_events;--",
    "😀🩺 emoji",
    "\ufffd\ufffd replacement",
    "%s %(x)s ? :name $1",  # every driver's placeholder syntax
    "9" * 80,
]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def call(cid: str, at: datetime = T0, *, app: str = "clinic-router", **fields: Any) -> CallRow:
    base = CallRow(
        id=cid, app=app, caller_raw="+7 916 123-45-67", did="+74950000000", started_at=at
    )
    return replace(base, **fields)


async def test_call_lifecycle(store: Store) -> None:
    calls = store.calls
    assert await calls.create(call("c1", rules_version="r7"))
    assert await calls.update(
        "c1", phase=Phase.ROUTING, caller_e164="+79161234567", patient_id="p1"
    )
    assert await calls.update(
        "c1", tried_operators=["op1", "op2"], operator_channel_id="c1-op2", bridge_id="b-c1"
    )
    assert await calls.update(
        "c1", phase="bridged", operator_id="op2", answered_at=T0 + timedelta(seconds=9)
    )
    assert await calls.update(
        "c1", phase=Phase.ENDED, outcome=Outcome.ANSWERED, ended_at=T0 + timedelta(minutes=3)
    )

    row = await calls.get("c1")
    assert row == CallRow(
        id="c1",
        app="clinic-router",
        caller_raw="+7 916 123-45-67",
        did="+74950000000",
        started_at=T0,
        phase=Phase.ENDED,
        caller_e164="+79161234567",
        patient_id="p1",
        answered_at=T0 + timedelta(seconds=9),
        ended_at=T0 + timedelta(minutes=3),
        outcome=Outcome.ANSWERED,
        operator_id="op2",
        bridge_id="b-c1",
        operator_channel_id="c1-op2",
        tried_operators=("op1", "op2"),
        rules_version="r7",
    )
    assert row is not None and row.phase is Phase.ENDED and row.outcome is Outcome.ANSWERED
    assert await calls.get("nope") is None
    assert not await calls.update("nope", phase="ended")


async def test_create_is_idempotent(store: Store) -> None:
    assert await store.calls.create(call("c1"))
    assert not await store.calls.create(call("c1", caller_raw="someone else"))
    row = await store.calls.get("c1")
    assert row is not None and row.caller_raw == "+7 916 123-45-67"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"id": "c2"}, ValueError),
        ({"app": "other"}, ValueError),
        ({"started_at": T0}, ValueError),
        ({"caller_raw": "x"}, ValueError),
        ({"phase": "flying"}, ValueError),
        ({"outcome": "great"}, ValueError),
        ({"tried_operators": "op1"}, TypeError),
        ({"tried_operators": [1, 2]}, TypeError),
        ({"ended_at": "2026-11-23"}, TypeError),
        ({"ended_at": datetime(2026, 11, 23)}, Exception),  # naive: refused by the column type
        ({}, ValueError),
    ],
)
async def test_update_refuses_what_it_must_not_write(
    store: Store, fields: dict[str, object], error: type[Exception]
) -> None:
    await store.calls.create(call("c1"))
    with pytest.raises(error):
        await store.calls.update("c1", **fields)
    assert await store.calls.get("c1") == call("c1")


async def test_timestamps_come_back_in_utc(store: Store) -> None:
    moscow = timezone(timedelta(hours=3))
    await store.calls.create(call("c1", datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=moscow)))
    row = await store.calls.get("c1")
    assert row is not None
    assert row.started_at == datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
    assert row.started_at.tzinfo is UTC


async def test_events_come_back_in_time_then_insertion_order(store: Store) -> None:
    await store.calls.create(call("c1"))
    await store.calls.create(call("c2"))
    await store.calls.append_event("c1", "answered", {"n": 1}, T0 + timedelta(seconds=1))
    await store.calls.append_event(
        "c1", "identified", {"patients": ["p1", "p2"]}, T0 + timedelta(seconds=1)
    )
    await store.calls.append_event("c2", "other", {}, T0)
    await store.calls.append_event("c1", "created", {"late": True, "x": None, "f": 1.5}, T0)

    events = await store.calls.events("c1")
    assert [(e.kind, e.at) for e in events] == [
        ("created", T0),
        ("answered", T0 + timedelta(seconds=1)),
        ("identified", T0 + timedelta(seconds=1)),
    ]
    assert [e.data for e in events] == [
        {"late": True, "x": None, "f": 1.5},
        {"n": 1},
        {"patients": ["p1", "p2"]},
    ]
    assert all(e.call_id == "c1" for e in events)
    assert await store.calls.events("nope") == []


async def test_an_event_for_an_unknown_call_is_refused(store: Store) -> None:
    # Foreign keys are enforced on SQLite too (they are off by default there).
    with pytest.raises(IntegrityError):
        await store.calls.append_event("ghost", "x", {}, T0)


async def test_event_data_must_be_json(store: Store) -> None:
    await store.calls.create(call("c1"))
    with pytest.raises(Exception, match="not JSON-serialisable"):
        await store.calls.append_event("c1", "x", {"when": T0}, T0)
    assert await store.calls.events("c1") == []


async def test_recent_is_newest_first_and_pages(store: Store) -> None:
    for i in range(5):
        await store.calls.create(call(f"c{i}", T0 + timedelta(minutes=i)))
    await store.calls.create(call("c3b", T0 + timedelta(minutes=3)))  # same start as c3

    assert [c.id for c in await store.calls.recent()] == ["c4", "c3b", "c3", "c2", "c1", "c0"]
    page = await store.calls.recent(limit=2)
    assert [c.id for c in page] == ["c4", "c3b"]
    last = page[-1]
    nxt = await store.calls.recent(limit=2, before=last.started_at, before_id=last.id)
    assert [c.id for c in nxt] == ["c3", "c2"]
    assert [c.id for c in await store.calls.recent(before=T0 + timedelta(minutes=3))] == [
        "c2",
        "c1",
        "c0",
    ]
    with pytest.raises(ValueError):
        await store.calls.recent(limit=0)
    since = await store.calls.recent(since=T0 + timedelta(minutes=3))
    assert [c.id for c in since] == ["c4", "c3b", "c3"]
    page = await store.calls.recent(limit=2, since=T0 + timedelta(minutes=2))
    nxt = await store.calls.recent(
        limit=2, before=page[-1].started_at, before_id=page[-1].id, since=T0 + timedelta(minutes=2)
    )
    assert [c.id for c in page + nxt] == ["c4", "c3b", "c3", "c2"]


async def test_events_of_several_calls_in_one_query(store: Store) -> None:
    for cid in ("a", "b", "quiet"):
        await store.calls.create(call(cid))
    await store.calls.append_event("a", "second", {}, T0 + timedelta(seconds=1))
    await store.calls.append_event("b", "only", {"n": 1}, T0)
    await store.calls.append_event("a", "first", {}, T0)
    journeys = await store.calls.events_of(["a", "b", "quiet", "unknown"])
    assert {cid: [e.kind for e in events] for cid, events in journeys.items()} == {
        "a": ["first", "second"],
        "b": ["only"],
        "quiet": [],
        "unknown": [],
    }
    assert journeys["b"][0].data == {"n": 1}
    assert await store.calls.events_of([]) == {}
    waits = await store.calls.events_of(["a", "b"], ["second", "only"])
    assert {cid: [e.kind for e in events] for cid, events in waits.items()} == {
        "a": ["second"],
        "b": ["only"],
    }


async def test_open_calls_are_the_app_s_unfinished_calls(store: Store) -> None:
    await store.calls.create(call("live2", T0 + timedelta(seconds=2)))
    await store.calls.create(call("live1", T0))
    await store.calls.create(call("done", T0))
    await store.calls.create(call("elsewhere", T0, app="clinic-router-node2"))
    await store.calls.update("done", phase="ended", ended_at=T0, outcome="abandoned")

    assert [c.id for c in await store.calls.open_calls("clinic-router")] == ["live1", "live2"]
    assert [c.id for c in await store.calls.open_calls("clinic-router-node2")] == ["elsewhere"]
    assert await store.calls.open_calls("unknown") == []


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_strings_round_trip(store: Store, text: str) -> None:
    cid = f"c-{text}"
    await store.calls.create(call(cid, caller_raw=text, did=text, line=text, rules_version=text))
    await store.calls.update(cid, caller_e164=text, tried_operators=[text, text])
    await store.calls.append_event(cid, text, {text: text, "list": [text]}, T0)
    row = await store.calls.get(cid)
    assert row is not None
    assert (row.caller_raw, row.did, row.line, row.caller_e164) == (text, text, text, text)
    assert row.tried_operators == (text, text)
    [event] = await store.calls.events(cid)
    assert (event.kind, event.data) == (text, {text: text, "list": [text]})
    assert [c.id for c in await store.calls.recent()] == [cid]


async def test_caller_text_is_bounded_and_made_storable(store: Store) -> None:
    await store.calls.create(call("c1", caller_raw="1" * 200, did="\x00evil\udcff"))
    await store.calls.append_event("c1", "k", {"raw\x00": "\x00\ud800"}, T0)
    row = await store.calls.get("c1")
    assert row is not None
    assert row.caller_raw == "1" * 80
    assert row.did == "\ufffdevil\ufffd"
    [event] = await store.calls.events("c1")
    assert event.data == {"raw\ufffd": "\ufffd\ufffd"}


async def test_ring_attempts(store: Store) -> None:
    await store.calls.create(call("c1"))
    first = await store.calls.record_ring_attempt(
        call_id="c1",
        operator_id="op1",
        channel_id="c1-op1",
        started_at=T0 + timedelta(seconds=1),
        ended_at=T0 + timedelta(seconds=16, milliseconds=250),
        result=RingResult.NO_ANSWER,
    )
    second = await store.calls.record_ring_attempt(
        call_id="c1",
        operator_id="op2",
        channel_id=None,
        started_at=T0 + timedelta(seconds=17),
        ended_at=T0 + timedelta(seconds=20),
        result="answered",
        duration_ms=2999,  # as measured by the caller, kept as given
    )
    assert first != second
    attempts = await store.calls.ring_attempts("c1")
    assert [(a.operator_id, a.channel_id, a.result, a.duration_ms) for a in attempts] == [
        ("op1", "c1-op1", "no_answer", 15250),
        ("op2", None, "answered", 2999),
    ]
    assert attempts[0].started_at == T0 + timedelta(seconds=1)
    assert attempts[0].id == first
    with pytest.raises(ValueError):
        await store.calls.record_ring_attempt(
            call_id="c1",
            operator_id="op1",
            channel_id=None,
            started_at=T0,
            ended_at=None,
            result="meh",
        )
    assert await store.calls.ring_attempts("nope") == []


async def test_many_calls_writing_at_once(store: Store) -> None:
    # Every call coroutine writes its own journey concurrently (SQLite: WAL + busy timeout).
    async def one_call(i: int) -> None:
        cid = f"c{i:03d}"
        await store.calls.create(call(cid, T0 + timedelta(milliseconds=i)))
        for step in range(3):
            await store.calls.append_event(
                cid, f"step{step}", {"i": i}, T0 + timedelta(seconds=step)
            )
        await store.calls.record_ring_attempt(
            call_id=cid,
            operator_id="op1",
            channel_id=None,
            started_at=T0,
            ended_at=T0,
            result="busy",
        )
        await store.calls.update(cid, phase="ended", ended_at=T0, outcome="no_operator")

    await asyncio.gather(*(one_call(i) for i in range(150)))
    assert await store.calls.open_calls("clinic-router") == []
    recent = await store.calls.recent(limit=1000)
    assert len(recent) == 150
    for row in recent[:10]:
        assert [e.kind for e in await store.calls.events(row.id)] == ["step0", "step1", "step2"]


async def test_two_processes_writing_one_sqlite_file(tmp_path: Path) -> None:
    # Two Stores stand for two processes: no shared asyncio lock between them, so
    # SQLite's busy timeout is what keeps their concurrent writes from failing.
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    await migrate(url)
    first, second = await Store.open(url), await Store.open(url)
    try:
        assert await first.ping() and await second.ping()

        async def write(store: Store, cid: str) -> None:
            await store.calls.create(call(cid))
            for step in range(5):
                await store.calls.append_event(cid, f"s{step}", {}, T0)

        await asyncio.gather(
            *(write(first, f"a{i}") for i in range(40)),
            *(write(second, f"b{i}") for i in range(40)),
        )
        assert len(await first.calls.recent(limit=100)) == 80
    finally:
        await first.close()
        await second.close()
