"""Small summary statistics the reports share (None where there is nothing to summarise)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def percentile(values: Sequence[float], p: int) -> float | None:
    """The p-th percentile (1..99), interpolated between the nearest values ("inclusive",
    as spreadsheets compute PERCENTILE and `statistics.quantiles(method="inclusive")`):
    the p90 of 10 waits lies within them. One point computed directly: `quantiles`
    computes all 99 cut points, which dominated a year's report."""
    if not values:
        return None
    ordered = sorted(values)
    low, high = percentile_ranks(len(ordered), p)
    return interpolate(ordered[low], ordered[high], len(ordered), p)


def percentile_ranks(count: int, p: int) -> tuple[int, int]:
    """The 0-based ranks of the two values the p-th percentile of `count` lies between
    (what a database returns when it ranks the values itself)."""
    low = (count - 1) * p // 100
    return low, min(low + 1, count - 1)


def interpolate(low_value: float, high_value: float, count: int, p: int) -> float:
    """The p-th percentile of `count` values from the two at `percentile_ranks`."""
    position = (count - 1) * p / 100
    return low_value + (high_value - low_value) * (position - int(position))


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
