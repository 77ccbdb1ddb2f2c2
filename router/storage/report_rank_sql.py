"""Percentiles of a few columns of a report's temporary table, exact, without ranking
every value: the values' count per bucket (GROUP BY, one pass per column) says which
bucket each percentile's two ranks lie in, and only that bucket's values are sorted to
take them (`LIMIT 2 OFFSET` its rank within the bucket). Interpolated as `report_sql.
percentiles` does, so the figures equal those of ranking them all (`report_sql.ranked`):
on the benchmark's year (200,000 callback tasks) a window over every task took most of
the misses' figures' time on both databases (sorts of 400,000 rows; on PostgreSQL an
external merge).

The columns hold whole non-negative microseconds. A bucket is a second up to an hour, a
minute up to a day and an hour beyond, so a year's spread of times is at most about
14,000 buckets to count, not a row per task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.stats import interpolate, percentile_ranks

Column = Any  # a column of the temporary table
_S = 1_000_000
# (up to, width) in microseconds: seconds for an hour, minutes for a day; then hours
_TIERS = ((3_600 * _S, _S), (86_400 * _S, 60 * _S))
_BEYOND = 3_600 * _S


async def percentiles_of(
    conn: AsyncConnection, columns: Mapping[str, Column], points: Mapping[str, Sequence[int]]
) -> dict[tuple[str, int], float]:
    """(name, p) -> the p-th percentile of `columns[name]` (NULLs left out) in seconds,
    for each p of `points[name]`; none for a column without values."""
    counts = await _per_bucket(conn, columns)
    wanted: list[tuple[str, int, int]] = []  # name, p, values
    parts = []
    for name, p in [(name, p) for name, ps in points.items() for p in ps]:
        buckets = counts.get(name)
        if not buckets:
            continue
        n = sum(count for _, count in buckets)
        low, high = percentile_ranks(n, p)
        first, before = _bucket_of(buckets, low)
        last, _ = _bucket_of(buckets, high)
        col = columns[name]
        # the two ranks' values: the (low - before)th value of their buckets on
        taken = (
            select(col.label("v"))
            .where(col >= bounds(first)[0], col < bounds(last)[1])
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
        out[(name, p)] = interpolate(pair[0] / _S, pair[-1] / _S, n, p)
    return out


def bucket(value: Any) -> Any:
    """The bucket of a value, in SQL: numbered from 0 through the tiers."""
    whens: list[tuple[Any, Any]] = []
    start, offset = 0, 0
    for up_to, width in _TIERS:
        whens.append((value < up_to, offset + (value - start) // width))
        offset, start = offset + (up_to - start) // width, up_to
    return case(*whens, else_=offset + (value - start) // _BEYOND)


def bounds(number: int) -> tuple[int, int]:
    """A bucket's values: [low, high) in microseconds."""
    start, offset = 0, 0
    for up_to, width in _TIERS:
        count = (up_to - start) // width
        if number < offset + count:
            low = start + (number - offset) * width
            return low, low + width
        offset, start = offset + count, up_to
    low = start + (number - offset) * _BEYOND
    return low, low + _BEYOND


async def _per_bucket(
    conn: AsyncConnection, columns: Mapping[str, Column]
) -> dict[str, list[tuple[int, int]]]:
    """name -> (bucket, values in it), ascending."""
    parts = []
    for name, col in columns.items():
        b = bucket(col).label("b")
        parts.append(
            select(literal(name).label("name"), b, func.count().label("n"))
            .where(col.is_not(None))
            .group_by(b)
        )
    out: dict[str, list[tuple[int, int]]] = {}
    for r in (await conn.execute(union_all(*parts))).all():
        out.setdefault(r.name, []).append((int(r.b), int(r.n)))
    for buckets in out.values():
        buckets.sort()
    return out


def _bucket_of(buckets: Sequence[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bucket the 0-based `rank` lies in, and how many values lie before it."""
    before = 0
    for number, n in buckets:
        if rank < before + n:
            return number, before
        before += n
    raise ValueError(f"rank {rank} beyond {before} values")
