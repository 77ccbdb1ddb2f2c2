"""The database's sums (`router/storage/report_sql.py`, `report_ledger_sql.py`) give the
same report as the pure module on the records (`build_report`), on SQLite and PostgreSQL:
generated periods with every outcome, fallbacks, calls still live, lines known only from
the journey, service level targets per queue, and a period across a clock change
(Europe/Berlin, 25 October), grouped every way; operators' state histories (a state in
force since before the period, a span across the clock change, a pause that took effect
when the call ended, two changes at one instant, a state still open at the end); misses
and callback tasks of every close reason, merged misses, the backlog and overdue tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from report_support import (
    BERLIN,
    OPS,
    T0,
    _fill,
)
from sqlalchemy import insert
from storage_support import BACKENDS, migrated_store

from router.domain.reports import CALL_GROUPS, build_report
from router.domain.reports.callbacks import miss_sums
from router.domain.reports.operators import callbacks_worked, state_sums
from router.domain.reports.staffing import hour_slots, staffing, staffing_of, staffing_sums
from router.storage import Store
from router.storage.report_ledger_sql import LedgerSql
from router.storage.report_sql import zone_segments
from router.storage.tables import (
    callback_rings,
    callback_tasks,
    operator_states,
)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sql_sums_give_the_pure_modules_figures(store: Store, seed: int) -> None:
    await _fill(store, seed, 400)
    period = (T0, T0 + timedelta(hours=36))
    now = period[1] + timedelta(hours=1)
    data = await store.reports.period(*period)
    assert len(data.calls) > 300  # the generator filled the period
    options: dict[str, Any] = {
        "sl_targets": {"queue dms": 12.5, "assigned op1": 30.0},
        "default_sl_s": 20.0,
        "branches": {"moscow": "center", "spb": "north", "ryazan": ""},
    }
    assert data.spans and data.tasks  # states and tasks too
    lean = await store.reports.period(*period, ledger=False)  # what the replay reads
    assert (lean.calls, lean.rings, lean.spans) == (data.calls, data.rings, data.spans)
    assert not lean.misses and not lean.tasks
    for group in (None, *CALL_GROUPS):
        pure = build_report(data, period, now, BERLIN, group=group, **options)
        sql = await store.reports.report(period, now, BERLIN, group=group, **options)
        assert sql.to_json() == pure.to_json(), group
    # and the sums themselves, before any rounding
    ledger = LedgerSql(store.db)
    assert await ledger.state_sums(*period) == state_sums(data.spans, period)
    assert await ledger.callbacks_worked(*period) == callbacks_worked(data.tasks, period)
    for overdue in (0.0, 1800.0):
        pure_sums = miss_sums(data.misses, data.tasks, period, now, overdue)
        assert await ledger.miss_sums(*period, now, overdue) == pure_sums
    # the generated ledger has a case of each
    assert pure_sums.merged and pure_sums.overdue_now and pure_sums.anonymous
    assert pure_sums.open_now > pure_sums.overdue_now > 0
    assert pure_sums.reached_p90_s is not None and pure_sums.first_attempt_p50_s is not None
    assert len(pure_sums.closed) >= 5 and len(pure_sums.by_source) == 2
    assert len(callbacks_worked(data.tasks, period)) >= 2


async def test_state_time_follows_the_rules(store: Store) -> None:
    """Hand-computed: the state in force at the start counts from the start, a pause
    taken during a call counts from the call's end, a span across the clock change counts
    real seconds, a state still open counts to the period's end."""
    await _fill(store, 1, 10)
    period = (T0, T0 + timedelta(hours=36))
    sums = await LedgerSql(store.db).state_sums(*period)
    assert sums is not None
    hour = 3600 * 10**6
    assert sums[("op4", "paused", "lunch")] == 36 * hour  # all the period, never changed
    assert ("op4", "wrap_up", None) not in sums  # over before the period began
    assert sums[("op9", "paused", "lunch")] == 29 * hour
    assert sums[("op9", "wrap_up", None)] == 6 * hour  # open: to the period's end
    minute = 60 * 10**6
    assert sums[("op3", "wrap_up", None)] == 30 * minute  # 10 from the start, 10, 10
    assert sums[("op3", "paused", "lunch")] == 80 * minute  # 02:30 CEST to 02:50 CET
    assert sums[("op3", "paused", "training")] == 17 * minute + 5  # from the call's end
    assert sums[("op3", "on_call", None)] == 4 * minute + 123_457
    report = await store.reports.report(period, period[1], BERLIN)
    by_op = {o.operator_id: o for o in report.operators}
    assert by_op["op4"].paused_s == {"lunch": 36 * 3600.0} and by_op["op4"].wrap_up_s == 0.0
    assert by_op["op3"].paused_s == {"lunch": 4800.0, "training": 1020.0}


async def test_without_state_history_wrap_up_is_unknown(store: Store) -> None:
    period = (T0, T0 + timedelta(hours=36))
    assert await LedgerSql(store.db).state_sums(*period) is None


async def test_an_empty_period_sums_to_nothing(store: Store) -> None:
    period = (T0, T0 + timedelta(days=1))
    sql = await store.reports.report(period, period[1], BERLIN, group="hour")
    pure = build_report(
        await store.reports.period(*period), period, period[1], BERLIN, group="hour"
    )
    assert sql.to_json() == pure.to_json()
    assert sql.total.offered == 0 and sql.groups == ()


def test_zone_segments_find_the_instant_of_the_clock_change() -> None:
    segments = zone_segments(BERLIN, T0, T0 + timedelta(days=2))
    assert [(at, off, z) for at, off, z in segments] == [
        (T0, 7200, "+0200"),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 3600, "+0100"),
    ]
    assert zone_segments(UTC, T0, T0 + timedelta(days=400)) == [(T0, 0, "+0000")]
    # from a start off the hour the halving ends between two seconds: the change is still
    # the exact instant, so a row starting right at it (an interval, an hour) takes +0100
    off = zone_segments(BERLIN, T0 + timedelta(minutes=7, microseconds=3), T0 + timedelta(days=2))
    assert off[1] == (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 3600, "+0100")


async def test_callback_rings_leave_the_inbound_figures_as_they_are(store: Store) -> None:
    """Operators' rings offered / answered / let ring out count inbound calls' rings:
    a callback attempt's rings (`callback_rings`) are beside them, not among them (the
    callbacks worked are their own figures)."""
    await _fill(store, 1, 200)
    period = (T0, T0 + timedelta(hours=36))
    now = period[1] + timedelta(hours=1)
    before = await store.reports.report(period, now, BERLIN, group=None)
    at = T0 + timedelta(hours=2)
    async with store.db.begin() as conn:
        task = await conn.execute(
            insert(callback_tasks).values(
                number_e164="+79990001122", state="closed", reasons=["no_operator"],
                miss_count=1, first_missed_at=at, last_missed_at=at, due_at=at, created_at=at,
            )
        )  # fmt: skip
        assert task.inserted_primary_key is not None
        task_id = task.inserted_primary_key[0]
        await conn.execute(
            insert(callback_rings),
            [{"task_id": task_id, "attempt": 1, "party": party, "operator_id": op,
              "channel_id": f"cb-{task_id}-1-{op}-{n}", "started_at": at,
              "ended_at": at + timedelta(seconds=5), "result": result, "duration_ms": 5000}
             for op in OPS
             for n, (party, result) in enumerate((("operator", "answered"),
                                                  ("operator", "no_answer"), ("patient", "busy")))],
        )  # fmt: skip
    assert sum(o.rings for o in before.operators) > 0  # inbound rings are counted
    after = await store.reports.report(period, now, BERLIN, group=None)
    assert after.to_json() == before.to_json()
    pure = build_report(await store.reports.period(*period), period, now, BERLIN, group=None)
    assert pure.to_json() == before.to_json()
    async with store.db.begin() as conn:
        rows = (await conn.execute(callback_rings.select())).all()
    assert len(rows) == 3 * len(OPS)  # they were written, in the period, for those operators


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Kolkata"])
async def test_staffing_sums_give_the_pure_modules_rows(store: Store, zone: str) -> None:
    """The staffing view's sums (calls per hour of the week, talk, waits, wrap-up, time on
    duty split at the local hours: half past in UTC for India) as the pure module takes
    them from records, and so the same rows."""
    await _fill(store, 2, 400)
    tz = ZoneInfo(zone)
    period = (T0, T0 + timedelta(hours=36))
    data = await store.reports.period(*period)
    sql = await store.reports.staffing(period, tz)
    pure = staffing_sums(data.calls, period, tz, data.spans)
    assert sql == pure
    assert sql.duty_us and sql.wrap_up_us and len(sql.by_hour) > 24
    assert staffing_of(sql, period, tz) == staffing(data.calls, period, tz, spans=data.spans)
    _, both = await store.reports.sums(period, period[1], tz, group="hour", staffing=True)
    assert both == pure


async def test_time_on_duty_is_split_at_local_hours(store: Store) -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    at = datetime(2026, 10, 26, 3, 0, tzinfo=UTC)  # Monday 08:30 local
    async with store.db.begin() as conn:
        await conn.execute(
            insert(operator_states),
            [{"operator_id": "op1", "state": "available", "reason": None, "at": at},
             {"operator_id": "op1", "state": "offline", "reason": None,
              "at": at + timedelta(hours=2)}],
        )  # fmt: skip
    period = (at - timedelta(hours=1), at + timedelta(hours=3))
    duty = await LedgerSql(store.db).duty_us(*period, hour_slots(period, kolkata))
    half = 1800 * 10**6
    assert duty == {"Mon 08": half, "Mon 09": 2 * half, "Mon 10": half}
    assert await store.reports.staffing(period, kolkata) == staffing_sums(
        [], period, kolkata, (await store.reports.period(*period)).spans
    )
