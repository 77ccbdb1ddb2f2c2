"""Misses and callbacks across midnight, hand-computed, on SQLite and PostgreSQL: the
database's sums (`store.reports.report`, rollups built or not) and the pure module on
the rows read back (`build_report`) give the same figures.

- A task counts for the operator who worked it in the period the work was done in: a
  miss at 20:00 called back at 09:05 the next day is the next day's `callbacks_worked`
  (and once in a period holding both days); the task's own figures (created, reached,
  the times from the miss) stay with its miss's day.
- A fallback miss of a call the router took before midnight (23:59:50, missed in the
  fallback at 00:00:30) is that call, counted on the first day, not a second call the
  next day; a fallback miss with no call row is a call of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from storage_support import BACKENDS, migrated_store

from router.domain.reports import Report, build_report
from router.storage import Store
from router.storage.report_rollup_sql import Rollups
from router.storage.tables import call_events, callback_tasks, calls, misses

MSK = ZoneInfo("Europe/Moscow")
DAY1 = (datetime(2026, 12, 1, tzinfo=MSK), datetime(2026, 12, 2, tzinfo=MSK))
DAY2 = (DAY1[1], datetime(2026, 12, 3, tzinfo=MSK))
BOTH = (DAY1[0], DAY2[1])
NOW = DAY2[1] + timedelta(days=1)


def h(hours: float) -> datetime:
    """Hours after the first day's local midnight."""
    return DAY1[0] + timedelta(hours=hours)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


def _task(n: int, missed: datetime, **values: Any) -> dict[str, Any]:
    row = {
        "number_e164": f"+7916000000{n}", "line": None, "state": "closed",
        "reasons": ["abandoned"], "miss_count": 1, "first_missed_at": missed,
        "last_missed_at": missed, "due_at": missed, "created_at": missed, "attempts": 1,
        "keep_place": False, "priority": 0, "first_attempt_at": None, "closed_at": None,
        "close_reason": None, "closed_by": None, "attempt_operator_id": None,
    }  # fmt: skip
    return {**row, **values}


def _miss(call_id: str, at: datetime, task_id: int | None, reason: str) -> dict[str, Any]:
    return {
        "call_id": call_id, "line": None, "number_e164": "+79160000000", "waited_s": 30.0,
        "reason": reason, "missed_at": at, "task_id": task_id, "anonymous": False,
    }  # fmt: skip


async def _both_ways(store: Store, period: tuple[datetime, datetime]) -> Report:
    """The period's report summed by the database, asserted equal to the pure module's on
    the rows read back, grouped by day too."""
    for group in (None, "day"):
        sql = await store.reports.report(period, NOW, MSK, group=group)
        pure = build_report(await store.reports.period(*period), period, NOW, MSK, group=group)
        assert sql.to_json() == pure.to_json(), (period, group)
    return await store.reports.report(period, NOW, MSK)


async def _all_periods(store: Store) -> list[Report]:
    """DAY1, DAY2, BOTH, each both ways, before and after the rollups are built."""
    before = [await _both_ways(store, p) for p in (DAY1, DAY2, BOTH)]
    assert await Rollups(store.db).build(*BOTH, NOW) > 0
    after = [await _both_ways(store, p) for p in (DAY1, DAY2, BOTH)]
    assert [r.to_json() for r in after] == [r.to_json() for r in before]
    return before


async def test_a_callback_counts_for_the_operator_on_the_day_it_was_worked(
    store: Store,
) -> None:
    # 1: missed at 20:00, called back by op1 at 09:05 the next day (no miss that day)
    # 2: missed at 10:00, closed by op2 by hand at 11:00 the same day
    # 3: missed at 21:00 and again at 08:00 the next day; the patient called in and
    #    reached an operator at 08:30
    tasks = [
        _task(1, h(20), first_attempt_at=h(33),
              closed_at=h(33 + 5 / 60), close_reason="connected", attempt_operator_id="op1"),
        _task(2, h(10), first_attempt_at=h(10.5), closed_at=h(11), close_reason="done",
              closed_by="op2"),
        _task(3, h(21), miss_count=2, last_missed_at=h(32), attempts=0, closed_at=h(32.5),
              close_reason="reached_operator"),
    ]  # fmt: skip
    async with store.db.begin() as conn:
        made = await conn.execute(
            insert(callback_tasks).returning(callback_tasks.c.id, sort_by_parameter_order=True),
            tasks,
        )
        one, two, three = made.scalars().all()
        await conn.execute(
            insert(misses),
            [_miss("a", h(20), one, "after_hours"), _miss("b", h(32), three, "abandoned"),
             _miss("c", h(10), two, "abandoned"), _miss("d", h(21), three, "after_hours")],
        )  # fmt: skip
    day1, day2, both = await _all_periods(store)
    worked = [{o.operator_id: o.callbacks_worked for o in r.operators} for r in (day1, day2, both)]
    assert worked == [{"op2": 1}, {"op1": 1}, {"op1": 1, "op2": 1}]
    m1, m2, mb = day1.misses, day2.misses, both.misses
    # by the miss's time: the first day's three tasks, reached however late
    assert (m1.misses, m1.tasks_created, m1.merged) == (3, 3, 0)
    assert (m1.reached, m1.called_back, m1.called_in, m1.closed_other) == (2, 1, 1, {"done": 1})
    assert m1.worked_share == 1.0
    assert m1.first_attempt_p50_s == 24300.0  # 30 min (task 2) and 13 h (task 1)
    assert (m1.reached_p50_s, m1.reached_p90_s) == (44250.0, 46530.0)  # 11:30 h and 13:05 h
    # the second day: the miss that joined task 3, no task of its own
    assert (m2.misses, m2.tasks_created, m2.merged, m2.reached) == (1, 0, 1, 0)
    assert m2.worked_share is None and m2.first_attempt_p50_s is None
    assert (mb.misses, mb.tasks_created, mb.merged, mb.reached) == (4, 3, 1, 2)


async def test_a_fallback_miss_after_midnight_is_the_call_of_the_day_before(
    store: Store,
) -> None:
    start = h(24) - timedelta(seconds=10)  # 23:59:50: the router takes f1
    rows = [
        {"id": "f1", "app": "clinic-router", "caller_raw": "x", "did": "7495", "line": "moscow",
         "started_at": start, "phase": "ended", "patient_id": None, "outcome": "failed",
         "answered_at": None, "ended_at": start + timedelta(seconds=5), "operator_id": None,
         "tried_operators": []},
    ]  # fmt: skip
    async with store.db.begin() as conn:
        await conn.execute(insert(calls), rows)
        fallback = {"call_id": "f1", "at": start + timedelta(seconds=4), "kind": "fallback"}
        await conn.execute(insert(call_events), [{**fallback, "data": {"reason": "AriError"}}])
        await conn.execute(
            insert(misses),
            # f1 missed in the fallback at 00:00:30; ast-9 while the router was down
            [_miss("f1", start + timedelta(seconds=40), None, "fallback_unanswered"),
             _miss("ast-9", h(34), None, "fallback_unanswered")],
        )  # fmt: skip
    day1, day2, both = await _all_periods(store)
    t1, t2, tb = day1.total, day2.total, both.total
    assert (t1.offered, t1.failed, t1.fallback, t1.no_operator) == (1, 1, 1, 0)
    assert (t2.offered, t2.failed, t2.fallback, t2.no_operator) == (1, 0, 1, 1)  # ast-9
    assert (tb.offered, tb.failed, tb.fallback, tb.no_operator) == (2, 1, 2, 1)
    assert day1.misses.misses == 0
    assert day2.misses.by_source == both.misses.by_source == {"fallback": 2}
    by_day = await store.reports.report(BOTH, NOW, MSK, group="day")
    assert [(g.key, g.offered) for g in by_day.groups] == [("2026-12-01", 1), ("2026-12-02", 1)]
