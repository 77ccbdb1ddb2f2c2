"""The operators' state seconds of built intervals, written by the rollups' build
(`report_rollup_sql.Rollups`) with the calls' rows:

- `report_state_intervals`: per interval, operator, state and pause reason, the sums the
  raw spans give for that interval alone (`router.domain.reports.state_intervals`), from
  the same changes the raw sums read (`report_ledger_sql.changes`);
- `report_state_days`: the same summed over each UTC day all of whose 96 intervals are
  built, written again whenever one of them is (`report_rollup_spans`: a year's report
  reads 365 days' rows, not 35,040 intervals' times every operator and state);
- `report_rollups.duty_us`: each interval's time on duty, all operators together (the
  staffing view's hours are unions of whole intervals).

A late state change unmarks the intervals it changes (`report_rollup_sql.mark_states_stale`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.staffing import ON_DUTY
from router.domain.reports.state_intervals import Change, interval_state_sums
from router.storage.report_facts_sql import instant_us
from router.storage.report_ledger_sql import changes, latest_pairs


async def interval_state_rows(
    conn: AsyncConnection, dialect: str, runs: Sequence[tuple[datetime, datetime]]
) -> list[dict[str, object]]:
    """The rows of these runs of whole intervals: two statements a run (each
    operator's latest change before it, then its changes)."""
    rows: list[dict[str, object]] = []
    for start, end in runs:
        pairs = await latest_pairs(conn, start)
        read = (await conn.execute(changes(dialect, pairs, start, end))).all()
        found: list[Change] = [(r.operator_id, r.state, r.reason, r.id, int(r.at)) for r in read]
        sums = interval_state_sums(found, instant_us(start), instant_us(end))
        for (k, op, state, reason), us in sums.items():
            rows.append(
                {"interval_us": k, "operator_id": op, "state": state, "reason": reason, "us": us}
            )
    return rows


def duty_of(keys: Sequence[int], rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Each interval's time on duty, all operators together, of its rows."""
    duty = dict.fromkeys(keys, 0)
    for row in rows:
        if row["state"] in ON_DUTY:
            duty[row["interval_us"]] += row["us"]
    return duty
