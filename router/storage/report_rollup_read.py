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

from sqlalchemy import Integer, cast, func, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.calls import CallGroup
from router.domain.reports.intervals import (
    HOUR_US,
    INTERVAL_US,
    CallRow,
    OperatorRow,
    add_row,
    answer_p50,
    row_key,
    runs_of,
    sum_calls,
    whole_targets,
)
from router.domain.reports.operators import OperatorSums
from router.storage.report_facts_sql import FACTS, instant_us
from router.storage.report_rollup_spans import (
    CALL_DAYS,
    CALL_HOURS,
    OPERATOR_DAYS,
    Part,
    parts_of,
    spanned_of,
)
from router.storage.report_rollup_sql import (
    HISTS,
    KEYS,
    Built,
    built_in,
    call_rows_of_facts,
    fill_facts,
    operator_rows,
    raw_ranges,
    zone_fits,
)
from router.storage.report_sql import CallGroups, ReportSql, key_sql
from router.storage.tables import report_intervals


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
            async with self._db.snapshot() as conn:
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
            hours = zone_fits(tz, *period, HOUR_US)
            spanned = await spanned_of(conn, built)
            out = []
            for g in groups:  # each from the coarsest rows its keys allow
                of_row = row_key(g, tz, branches)
                if g not in _BY_TIME:
                    parts = parts_of(built, CALL_DAYS, spanned)
                else:
                    parts = (
                        parts_of(built, CALL_HOURS, spanned)
                        if hours
                        else [Part(report_intervals, built)]
                    )
                merged = await merged_hists(conn, parts, of_row)

                def key(columns: Any, g: CallGroup | None = g) -> Any:
                    return key_sql(d, columns, g, tz, *period, branches or {})

                stored = await stored_calls(conn, parts, key, merged)
                rows = [*stored, *((of_row(r), r) for r in edges)]
                out.append(CallGroups(*sum_calls(rows, targets, default_sl_s)))
            return out
        finally:
            await conn.run_sync(lambda sync: FACTS.drop(sync, checkfirst=True))
            await conn.commit()  # writes only the connection's own temporary table

    async def operator_sums(self, start: datetime, end: datetime) -> dict[str, OperatorSums]:
        d = self._db.dialect_name
        async with self._db.snapshot() as conn:
            built = await built_of(conn, start, end)
            if not built:
                rows = None
            else:
                rows = []
                spanned = await spanned_of(conn, built)
                for part in parts_of(built, OPERATOR_DAYS, spanned):
                    rows += await stored_operators(conn, d, part)
                for low, high in raw_ranges(start, end, built):
                    rows += await operator_rows(conn, d, low, high)
        if rows is None:
            return await super().operator_sums(start, end)
        return _operator_sums(rows)


async def stored_calls(
    conn: AsyncConnection,
    parts: Sequence[Part],
    key: Callable[[Any], Any],
    hists: Mapping[GroupQueue, Sequence[Mapping[str, int]]],
) -> list[tuple[str, CallRow]]:
    """The stored call rows of these parts per group and queue (the queue for its
    service-level target): counts and sums summed by the database (`key(columns)`:
    `report_sql.key_sql` on the row's interval or span as its start), with the group's
    histograms merged by `merged_hists`.
    The database merging the histograms (`json_each`) took longer: the key was computed
    for each of the year's 3 million histogram entries."""
    rows: dict[GroupQueue, CallRow] = {}
    for part in parts:
        t = part.table.c
        k = key(SimpleNamespace(line=t.line, queue=t.queue, start_us=part.start)).label("key")
        counts = [c for c in t if c.name not in (*HISTS, *KEYS, "span_us")]
        summed = [c for c in counts if c.name not in ("wait_max_us", "first_us")]
        sums = select(
            k, t.queue, *(func.sum(c).label(c.name) for c in summed),
            func.max(t.wait_max_us).label("wait_max_us"), func.min(t.first_us).label("first_us"),
        ).where(part.where()).group_by(k, t.queue)  # fmt: skip
        for r in (await conn.execute(sums)).all():
            values = {c.name: r._mapping[c.name] for c in counts}
            values = {
                n: v if v is None or n == "wait_max_us" else int(v) for n, v in values.items()
            }
            total = rows.setdefault((r.key, r.queue), CallRow(0, None, r.queue))
            add_row(total, CallRow(0, None, r.queue, **values))
    for group, into in hists.items():
        for name, acc in zip(HISTS, into, strict=True):
            getattr(rows[group], name).update({int(s): n for s, n in acc.items()})
    return [(key_, row) for (key_, _), row in rows.items()]


GroupQueue = tuple[str, str | None]  # a group's key, the queue
_BY_TIME = ("day", "hour", "hour_of_week")
_PAGE = 2_000  # stored rows decoded at a time


async def merged_hists(
    conn: AsyncConnection, parts: Sequence[Part], of_row: Callable[[CallRow], str]
) -> dict[GroupQueue, list[dict[str, int]]]:
    """The stored rows' histograms merged per group (`of_row`: a row's key) and queue.
    The rows are streamed, a page at a time, and merged as they come (seconds still as
    text, as stored): holding the year's 210,000 decoded histograms took 300 MB. A
    group's first row gives its histograms as they are (by hour, most groups have one)."""
    out: dict[GroupQueue, list[dict[str, int]]] = {}
    for part in parts:
        t = part.table.c
        stmt = select(part.start, t.line, t.queue, *(t[n] for n in HISTS)).where(part.where())
        async with conn.stream(stmt) as result:  # closed on error too: no cursor left open
            async for page in result.partitions(_PAGE):
                for r in page:
                    group = (of_row(CallRow(r[0], r[1], r[2])), r[2])
                    parsed = [json.loads(text) for text in r[3:]]
                    into = out.get(group)
                    if into is None:
                        out[group] = parsed
                        continue
                    for acc, hist in zip(into, parsed, strict=True):
                        for second, n in hist.items():
                            acc[second] = acc.get(second, 0) + n
    return out


def _json_each(dialect: str, column: Any) -> Any:
    """A JSON object's (key, value) pairs as rows."""
    if dialect == "postgresql":
        return func.jsonb_each_text(cast(column, JSONB)).table_valued("key", "value")
    return func.json_each(column).table_valued("key", "value")


async def stored_operators(conn: AsyncConnection, dialect: str, part: Part) -> list[OperatorRow]:
    """The stored operator rows of these built intervals or days, summed per operator
    and result by the database, histograms too (a year is about one interval row per
    ring: read one by one, they took 40 s)."""
    o = part.table.c
    ours = part.where()
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
        .select_from(part.table.join(each, true()))
        .where(ours, o.result == "answered")
        .group_by(o.operator_id, second)
    )
    for r in (await conn.execute(hists)).all():
        rows[(r.operator_id, "answered")].answer_s[r.s] += int(r.n)
    return list(rows.values())


MAX_RUNS = 200  # built runs a report reads stored; the rest raw (an SQL expression's depth)


async def built_of(
    conn: AsyncConnection, start: datetime, end: datetime, of: Built = "calls"
) -> list[int]:
    """The period's built intervals (`report_rollup_sql.built_in`), at most `MAX_RUNS`
    runs of them (the longest)."""
    built = await built_in(conn, instant_us(start), instant_us(end), of)
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
