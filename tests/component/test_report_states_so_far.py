"""A state still held is counted up to now, not to the end of a period that is not over
(today's report at 09:30 counted an operator's pause until midnight), by the database's
sums and the pure module alike, on SQLite and PostgreSQL; a period already over is
counted to its end as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from report_support import BERLIN, T0, _fill
from storage_support import BACKENDS, migrated_store

from router.domain.reports import build_report
from router.domain.reports.operators import WRAP_UP, so_far, state_sums
from router.storage import Store

HOUR_S = 3600.0
PERIOD = (T0, T0 + timedelta(hours=36))


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        await _fill(opened, 1, 10)  # op4 paused (lunch) all along, op9's wrap-up open
        yield opened


@pytest.mark.parametrize(
    ("hours", "op4_paused_h", "op9_wrap_h"),
    [(33, 33, 3), (40, 36, 6)],  # 3 h before the period's end; after it (to its end)
)
async def test_open_states_count_to_now(
    store: Store, hours: int, op4_paused_h: int, op9_wrap_h: int
) -> None:
    now = T0 + timedelta(hours=hours)
    sql = await store.reports.report(PERIOD, now, BERLIN)
    paused = {o.operator_id: o.paused_s for o in sql.operators}
    wrap = {o.operator_id: o.wrap_up_s for o in sql.operators}
    assert paused["op4"] == {"lunch": op4_paused_h * HOUR_S}
    assert wrap["op9"] == op9_wrap_h * HOUR_S
    data = await store.reports.period(*PERIOD)
    assert data.spans is not None
    assert sql.to_json() == build_report(data, PERIOD, now, BERLIN).to_json()
    # the staffing's wrap-up (its handle time) is taken the same way
    needs = await store.reports.staffing(PERIOD, BERLIN, now)
    states = state_sums(data.spans, so_far(PERIOD, now))
    assert needs.wrap_up_us == sum(us for (_, s, _), us in states.items() if s == WRAP_UP)


def test_a_period_not_begun_counts_nothing() -> None:
    assert so_far(PERIOD, T0 - timedelta(hours=1)) == (T0, T0)
    assert so_far(PERIOD, None) == PERIOD
