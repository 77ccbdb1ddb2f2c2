"""The reports' sums from interval rollups where the period's intervals are built: the
built intervals' stored rows plus the rows of the rest (the edges, intervals not settled
or not built yet) summed from the raw calls the same way, then added up by the pure
module (`router.domain.reports.intervals`). Falls back to the raw sums (`ReportSql`,
exact percentiles) when no whole interval of the period is built, when a service-level
target is not whole seconds, or when the zone's offsets are off the 15-minute grid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Integer, and_, cast, func, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.calls import CallGroup
from router.domain.reports.intervals import (
    CallRow,
    OperatorRow,
    answer_p50,
    row_key,
    runs_of,
    sum_calls,
    whole_targets,
)
from router.domain.reports.operators import OperatorSums
from router.storage.report_facts_sql import FACTS, instant_us
from router.storage.report_rollup_sql import (
    HISTS,
    INTERVAL_US,
    KEYS,
    built_in,
    call_rows_of_facts,
    fill_facts,
    operator_rows,
    raw_ranges,
    zone_fits,
)
from router.storage.report_sql import CallGroups, ReportSql, key_sql
from router.storage.tables import report_intervals, report_operator_intervals


class RolledReportSql(ReportSql):
    """`ReportSql`'s sums, from the rollups where they are built."""

    async def call_sums(
        self,
        start: datetime,
        end: datetime,
        tz: tzinfo,
        groups: Sequence[CallGroup | None] = (None,),
        sl_targets: Mapping[str, float] | None = None,
        default_sl_s: float = 20.0,
        branches: Mapping[str, str] | None = None,
    ) -> list[CallGroups]:
        targets = sl_targets or {}
        if whole_targets(targets, default_sl_s) and zone_fits(tz, start, end):
            async with self._db.connect() as conn:
                built = await built_of(conn, start, end)
                if built:
                    return await self._rolled(
                        conn, (start, end), built, tz, groups, targets, default_sl_s, branches
                    )
        return await super().call_sums(start, end, tz, groups, sl_targets, default_sl_s, branches)

    async def _rolled(
        self,
        conn: AsyncConnection,
        period: tuple[datetime, datetime],
        built: Sequence[int],
        tz: tzinfo,
        groups: Sequence[CallGroup | None],
        targets: Mapping[str, float],
        default_sl_s: float,
        branches: Mapping[str, str] | None,
    ) -> list[CallGroups]:
        d = self._db.dialect_name
        await conn.run_sync(lambda sync: FACTS.create(sync, checkfirst=True))
        try:
            await fill_facts(conn, d, raw_ranges(*period, built))
            edges = await call_rows_of_facts(conn, d)
            of_rows = [row_key(g, tz, branches) for g in groups]
            hists = await merged_hists(conn, built, of_rows)
            out = []
            for g, of_row, merged in zip(groups, of_rows, hists, strict=True):

                def key(columns: Any, g: CallGroup | None = g) -> Any:
                    return key_sql(d, columns, g, tz, *period, branches or {})

                stored = await stored_calls(conn, built, key, merged)
                rows = [*stored, *((of_row(r), r) for r in edges)]
                out.append(CallGroups(*sum_calls(rows, targets, default_sl_s)))
            return out
        finally:
            await conn.run_sync(lambda sync: FACTS.drop(sync, checkfirst=True))
            await conn.commit()  # writes only the connection's own temporary table

    async def operator_sums(self, start: datetime, end: datetime) -> dict[str, OperatorSums]:
        async with self._db.connect() as conn:
            built = await built_of(conn, start, end)
            if not built:
                rows = None
            else:
                rows = await stored_operators(conn, self._db.dialect_name, built)
                for low, high in raw_ranges(start, end, built):
                    rows += await operator_rows(conn, self._db.dialect_name, low, high)
        if rows is None:
            return await super().operator_sums(start, end)
        return _operator_sums(rows)


async def stored_calls(
    conn: AsyncConnection,
    built: Sequence[int],
    key: Callable[[Any], Any],
    hists: Mapping[GroupQueue, Sequence[Mapping[str, int]]],
) -> list[tuple[str, CallRow]]:
    """The stored call rows of these built intervals per group and queue (the queue for
    its service-level target): counts and sums summed by the database (`key(columns)`:
    `report_sql.key_sql` on the row's interval as its start), with the group's
    histograms merged by `merged_hists`.
    The database merging the histograms (`json_each`) took longer: the key was computed
    for each of the year's 3 million histogram entries."""
    if not built:
        return []
    t = report_intervals.c
    ours = in_built(t.interval_us, built)
    k = key(SimpleNamespace(line=t.line, queue=t.queue, start_us=t.interval_us)).label("key")
    counts = [c for c in report_intervals.c if c.name not in (*HISTS, *KEYS)]
    sums = select(
        k, t.queue,
        *(func.sum(c).label(c.name) for c in counts if c.name not in ("wait_max_us", "first_us")),
        func.max(t.wait_max_us).label("wait_max_us"), func.min(t.first_us).label("first_us"),
    ).where(ours).group_by(k, t.queue)  # fmt: skip
    rows: dict[GroupQueue, CallRow] = {}
    for r in (await conn.execute(sums)).all():
        values = {c.name: r._mapping[c.name] for c in counts}
        values = {n: v if v is None or n == "wait_max_us" else int(v) for n, v in values.items()}
        rows[(r.key, r.queue)] = CallRow(0, None, r.queue, **values)
    for group, into in hists.items():
        for name, acc in zip(HISTS, into, strict=True):
            getattr(rows[group], name).update({int(s): n for s, n in acc.items()})
    return [(key_, row) for (key_, _), row in rows.items()]


GroupQueue = tuple[str, str | None]  # a group's key, the queue
_PAGE = 2_000  # stored rows decoded at a time


async def merged_hists(
    conn: AsyncConnection, built: Sequence[int], of_rows: Sequence[Callable[[CallRow], str]]
) -> list[dict[GroupQueue, list[dict[str, int]]]]:
    """The built intervals' histograms merged per group and queue, for each grouping
    (`of_rows`: a row's group key in each), in one pass. The rows are streamed, a page
    at a time, and merged as they come (seconds still as text, as stored): holding the
    year's 210,000 decoded histograms for all the groupings took 300 MB."""
    t = report_intervals.c
    stmt = select(t.interval_us, t.line, t.queue, *(getattr(t, n) for n in HISTS)).where(
        in_built(t.interval_us, built)
    )
    out: list[dict[GroupQueue, list[dict[str, int]]]] = [{} for _ in of_rows]
    async with conn.stream(stmt) as result:  # closed on error too: no cursor left open
        async for page in result.partitions(_PAGE):
            for r in page:
                row = CallRow(r[0], r[1], r[2])
                parsed = [json.loads(text) for text in r[3:]]
                for of_row, merged in zip(of_rows, out, strict=True):
                    into = merged.setdefault((of_row(row), row.queue), [{} for _ in HISTS])
                    for acc, hist in zip(into, parsed, strict=True):
                        for second, n in hist.items():
                            acc[second] = acc.get(second, 0) + n
    return out


def _json_each(dialect: str, column: Any) -> Any:
    """A JSON object's (key, value) pairs as rows."""
    if dialect == "postgresql":
        return func.jsonb_each_text(cast(column, JSONB)).table_valued("key", "value")
    return func.json_each(column).table_valued("key", "value")


async def stored_operators(
    conn: AsyncConnection, dialect: str, built: Sequence[int]
) -> list[OperatorRow]:
    """The stored operator rows of these built intervals, summed per operator and result
    by the database, histograms too (a year is about one row per ring: read one by one,
    they took 40 s)."""
    if not built:
        return []
    o = report_operator_intervals.c
    ours = in_built(o.interval_us, built)
    sums = (
        select(
            o.operator_id,
            o.result,
            func.sum(o.rings).label("rings"),
            func.sum(o.answers).label("answers"),
            func.sum(o.answer_ms).label("answer_ms"),
            func.sum(o.talks).label("talks"),
            func.sum(o.talk_us).label("talk_us"),
        )
        .where(ours)
        .group_by(o.operator_id, o.result)
    )
    rows = {}
    for r in (await conn.execute(sums)).all():
        rows[(r.operator_id, r.result)] = OperatorRow(
            0, r.operator_id, r.result, int(r.rings), int(r.answers), int(r.answer_ms),
            int(r.talks), int(r.talk_us),
        )  # fmt: skip
    each = _json_each(dialect, o.answer_s)
    second, count = cast(each.c.key, Integer), func.sum(cast(each.c.value, Integer))
    hists = (
        select(o.operator_id, second.label("s"), count.label("n"))
        .select_from(report_operator_intervals.join(each, true()))
        .where(ours, o.result == "answered")
        .group_by(o.operator_id, second)
    )
    for r in (await conn.execute(hists)).all():
        rows[(r.operator_id, "answered")].answer_s[r.s] += int(r.n)
    return list(rows.values())


MAX_RUNS = 200  # built runs a report reads stored; the rest raw (an SQL expression's depth)


def in_built(interval_us: Any, built: Sequence[int]) -> Any:
    """The stored rows of exactly the intervals `built` lists: the list the raw edges were
    cut by, not the marks read again (a late write unmarking one in between, or a build
    marking one, would drop an interval or count it twice)."""
    return or_(*(and_(interval_us >= low, interval_us < high) for low, high in runs_of(built)))


async def built_of(
    conn: AsyncConnection, start: datetime, end: datetime, *, states: bool = False
) -> list[int]:
    """The period's built intervals (`states`: with their state seconds), at most
    `MAX_RUNS` runs of them (the longest)."""
    built = await built_in(conn, instant_us(start), instant_us(end), states=states)
    runs = runs_of(built)
    if len(runs) <= MAX_RUNS:
        return built
    kept = sorted(sorted(runs, key=lambda r: r[0] - r[1])[:MAX_RUNS])
    return [k for low, high in kept for k in range(low, high, INTERVAL_US)]


def _operator_sums(rows: Sequence[OperatorRow]) -> dict[str, OperatorSums]:
    out: dict[str, OperatorSums] = {}
    for r in rows:
        t = out.setdefault(r.operator_id, OperatorSums())
        if r.result is None:
            t.talks += r.talks
            t.talk_us += r.talk_us
        else:
            t.results[r.result] += r.rings
            t.answers += r.answers
            t.answer_ms += r.answer_ms
    for op, p50 in answer_p50(rows).items():
        out[op].answer_p50_s = p50
    return out
