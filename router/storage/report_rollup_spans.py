"""Coarser rollups: the interval rows of each whole UTC hour or day summed once more. A
year's report adds up each stored row it reads: at 15 minutes a busy clinic's year is
52,560 call rows with four histograms each (decoded in the process), about one operator
row per ring (983,006 for a million calls) and a row per operator and state per
interval; an hour's or a day's sums of them are a fraction.

A span's rows are written in the build's transaction whenever one of its intervals is
built (`write_spans`), summed from its intervals' stored rows when all of them are
built, deleted when not. A report reads a span's rows when all its intervals are among
the built ones it cut its raw edges by (`parts_of`), so a span is never read beside
newer interval rows: unmarking an interval makes its spans not whole, building it again
writes them again. Each grouping reads the coarsest layer it can: the figures not by
time (the total, by line, queue or branch, the operators', the state seconds) the days;
by local hour, day or hour of the week the hours when the zone's offsets are whole hours
(`report_rollup_sql.zone_fits`), else the intervals. A read costs what its histograms
hold, and a day's hold barely more entries than an hour's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.intervals import (
    DAY_US,
    HOUR_US,
    INTERVAL_US,
    render,
    runs_of,
    whole_spans,
)
from router.storage.tables import (
    report_call_days,
    report_call_hours,
    report_intervals,
    report_operator_days,
    report_operator_intervals,
    report_rollups,
    report_state_days,
    report_state_intervals,
)


@dataclass(frozen=True, slots=True)
class Layer:
    """Interval rows (`intervals`, by `interval_us`) summed per span of `length_us` into
    `spans` (by its `start` column): the `keys` columns group, `hists` are JSON histograms
    merged, `least`/`most` take the smallest/largest value, every other one is summed."""

    intervals: Table
    spans: Table
    length_us: int
    keys: tuple[str, ...]
    hists: tuple[str, ...] = ()
    least: tuple[str, ...] = ()
    most: tuple[str, ...] = ()
    start: str = "span_us"

    @property
    def sums(self) -> tuple[str, ...]:
        skip = {"interval_us", *self.keys, *self.hists, *self.least, *self.most}
        return tuple(c.name for c in self.intervals.columns if c.name not in skip)


_CALLS = dict(
    keys=("line", "queue"),
    hists=("waits", "speeds_up", "route_known", "route_unknown"),
    least=("first_us",),
    most=("wait_max_us",),
)
CALL_HOURS = Layer(report_intervals, report_call_hours, HOUR_US, **_CALLS)  # type: ignore[arg-type]
CALL_DAYS = Layer(report_intervals, report_call_days, DAY_US, **_CALLS)  # type: ignore[arg-type]
OPERATOR_DAYS = Layer(
    report_operator_intervals,
    report_operator_days,
    DAY_US,
    ("operator_id", "result"),
    ("answer_s",),
)
STATE_DAYS = Layer(
    report_state_intervals,
    report_state_days,
    DAY_US,
    ("operator_id", "state", "reason"),
    start="day_us",
)
LAYERS = (CALL_HOURS, CALL_DAYS, OPERATOR_DAYS, STATE_DAYS)


def span_of(us: int, length_us: int) -> int:
    return us - us % length_us


@dataclass(frozen=True, slots=True)
class Part:
    """Stored rows to read: those of `table` starting at the `spans` listed (intervals,
    or a layer's hours or days, each `length_us` long)."""

    table: Table
    spans: Sequence[int]
    length_us: int = INTERVAL_US

    @property
    def start(self) -> Any:
        c = self.table.c
        return c.interval_us if "interval_us" in c else c.span_us if "span_us" in c else c.day_us

    def where(self) -> Any:
        return in_spans(self.start, self.spans, self.length_us)


def in_spans(start: Any, spans: Sequence[int], length_us: int = INTERVAL_US) -> Any:
    """`start` within one of these sorted spans."""
    runs = runs_of(spans, length_us)
    return or_(*(and_(start >= low, start < high) for low, high in runs))


def parts_of(built: Sequence[int], layer: Layer, spanned: Collection[int]) -> list[Part]:
    """The built intervals as stored rows to read: the spans of `layer` all of whose
    intervals are in `built` and were built with their spans' rows (`spanned`: from
    migration 0015 on), the other intervals from their own rows."""
    spans = whole_spans((k for k in built if k in spanned), layer.length_us)
    whole = set(spans)
    rest = [k for k in built if span_of(k, layer.length_us) not in whole]
    parts = [Part(layer.intervals, rest), Part(layer.spans, spans, layer.length_us)]
    return [p for p in parts if p.spans]


async def spanned_of(conn: AsyncConnection, built: Sequence[int]) -> frozenset[int]:
    """Which of these built intervals were built with their spans' rows."""
    if not built:
        return frozenset()
    m = report_rollups.c
    stmt = select(m.interval_us).where(in_spans(m.interval_us, built), m.spans)
    return frozenset((await conn.execute(stmt)).scalars())


async def write_spans(conn: AsyncConnection, keys: Sequence[int]) -> None:
    """The rows of the hours and days of these intervals (just built and marked):
    summed again from their intervals' rows where all of them are built, none where
    not (in the build's transaction)."""
    m = report_rollups.c
    for n in sorted({layer.length_us for layer in LAYERS}):
        touched = sorted({span_of(k, n) for k in keys})
        marks = select(m.interval_us).where(in_spans(m.interval_us, touched, n), m.spans)
        whole = whole_spans((await conn.execute(marks)).scalars(), n)
        for layer in (layer for layer in LAYERS if layer.length_us == n):
            t = layer.spans
            await conn.execute(delete(t).where(in_spans(t.c[layer.start], touched, n)))
            rows = await _summed(conn, layer, whole) if whole else []
            if rows:
                await conn.execute(insert(t), rows)


async def _summed(
    conn: AsyncConnection, layer: Layer, spans: Sequence[int]
) -> list[dict[str, Any]]:
    """The interval rows of these spans of `layer`, summed per span and key (histograms
    merged here: the databases spell a JSON merge differently)."""
    t, n = layer.intervals.c, layer.length_us
    columns = (*layer.keys, *layer.sums, *layer.least, *layer.most, *layer.hists)
    stmt = select(t.interval_us, *(t[c] for c in columns)).where(in_spans(t.interval_us, spans, n))
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    hists: dict[tuple[Any, ...], list[Counter[str]]] = {}
    for r in (await conn.execute(stmt)).mappings():
        span = span_of(r["interval_us"], n)
        key = (span, *(r[c] for c in layer.keys))
        row = out.get(key)
        if row is None:
            row = out[key] = {layer.start: span, **{c: r[c] for c in layer.keys}}
            row.update(dict.fromkeys(layer.sums, 0))
            row.update({c: r[c] for c in (*layer.least, *layer.most)})
            hists[key] = [Counter() for _ in layer.hists]
        for c in layer.sums:
            row[c] += r[c]
        for c in layer.least:
            row[c] = _pick(min, row[c], r[c])
        for c in layer.most:
            row[c] = _pick(max, row[c], r[c])
        for acc, c in zip(hists[key], layer.hists, strict=True):
            acc.update(json.loads(r[c]))
    for key, row in out.items():
        for c, acc in zip(layer.hists, hists[key], strict=True):
            row[c] = render({int(s): v for s, v in acc.items()})
    return list(out.values())


def _pick(how: Any, a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else how(a, b)


__all__ = [
    "LAYERS", "Layer", "Part", "in_spans", "parts_of", "span_of", "spanned_of", "write_spans",
]  # fmt: skip
