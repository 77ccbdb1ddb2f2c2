"""Small summary statistics the reports share (None where there is nothing to summarise)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def percentile(values: Sequence[float], p: int) -> float | None:
    """The p-th percentile (1..99), interpolated between the nearest values ("inclusive",
    as spreadsheets compute PERCENTILE): the p90 of 10 waits lies within them."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
