"""Percentiles of a few columns of a report's temporary table, exact, without ranking
every value: the values' count per second (GROUP BY, one pass per column) says which
second each percentile's two ranks lie in, and only that second's values are sorted to
take them (`LIMIT 2 OFFSET` its rank within the second). Interpolated as `report_sql.
percentiles` does, so the figures equal those of ranking them all (`report_sql.ranked`):
on the benchmark's year (200,000 callback tasks) a window over every task took most of
the misses' figures' time on both databases (sorts of 400,000 rows; on PostgreSQL an
external merge).

The columns hold whole non-negative numbers (microseconds): a second is `value // unit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.stats import interpolate, percentile_ranks

Column = Any  # a column of the temporary table


async def percentiles_of(
    conn: AsyncConnection,
    columns: Mapping[str, Column],
    points: Mapping[str, Sequence[int]],
    unit: int = 1_000_000,
) -> dict[tuple[str, int], float]:
    """(name, p) -> the p-th percentile of `columns[name]` (NULLs left out) in units of
    `unit`, for each p of `points[name]`; none for a column without values."""
    counts = await _per_second(conn, columns, unit)
    wanted: list[tuple[str, int, int]] = []  # name, p, values
    parts = []
    for name, p in [(name, p) for name, ps in points.items() for p in ps]:
        seconds = counts.get(name)
        if not seconds:
            continue
        n = sum(count for _, count in seconds)
        low, high = percentile_ranks(n, p)
        first, before = _second_of(seconds, low)
        last, _ = _second_of(seconds, high)
        col = columns[name]
        # the two ranks' values: the (low - before)th value of their seconds on
        taken = (
            select(col.label("v"))
            .where(col >= first * unit, col < (last + 1) * unit)
            .order_by(col)
            .limit(high - low + 1)
            .offset(low - before)
            .subquery()
        )
        parts.append(select(literal(len(wanted)).label("i"), taken.c.v))
        wanted.append((name, p, n))
    if not parts:
        return {}
    values: dict[int, list[int]] = {}
    for r in (await conn.execute(union_all(*parts))).all():
        values.setdefault(r.i, []).append(r.v)
    out = {}
    for i, (name, p, n) in enumerate(wanted):
        pair = sorted(values[i])
        out[(name, p)] = interpolate(pair[0] / unit, pair[-1] / unit, n, p)
    return out


async def _per_second(
    conn: AsyncConnection, columns: Mapping[str, Column], unit: int
) -> dict[str, list[tuple[int, int]]]:
    """name -> (second, values in it), ascending."""
    parts = []
    for name, col in columns.items():
        second = col // unit
        parts.append(
            select(literal(name).label("name"), second.label("s"), func.count().label("n"))
            .where(col.is_not(None))
            .group_by(second)
        )
    out: dict[str, list[tuple[int, int]]] = {}
    for r in (await conn.execute(union_all(*parts))).all():
        out.setdefault(r.name, []).append((int(r.s), int(r.n)))
    for seconds in out.values():
        seconds.sort()
    return out


def _second_of(seconds: Sequence[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The second the 0-based `rank` lies in, and how many values lie before it."""
    before = 0
    for second, n in seconds:
        if rank < before + n:
            return second, before
        before += n
    raise ValueError(f"rank {rank} beyond {before} values")
