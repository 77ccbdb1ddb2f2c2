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
    position = (len(ordered) - 1) * p / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
