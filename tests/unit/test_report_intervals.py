"""The pure side of the interval rollups (`router/domain/reports/intervals.py`): a
percentile from per-second histograms is the percentile of the values cut to the second;
the service level at a whole-second target is exact from the ceil histogram; histograms
round-trip through their stored text; a zone is on the intervals' grid or not."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from router.domain.reports.intervals import (
    INTERVAL_US,
    at_most,
    hist_percentile,
    parse,
    render,
    runs_of,
    whole_targets,
)
from router.domain.reports.stats import percentile
from router.storage.report_rollup_sql import zone_fits


@pytest.mark.parametrize("seed", range(20))
def test_a_histograms_percentile_is_the_floored_values_one(seed: int) -> None:
    rnd = random.Random(seed)
    values = [rnd.expovariate(1 / 30) for _ in range(rnd.randrange(1, 400))]
    hist = Counter(int(v) for v in values)
    for p in (50, 90):
        got = hist_percentile(hist, p)
        assert got == percentile([float(int(v)) for v in values], p)
        exact = percentile(values, p)
        assert got is not None and exact is not None and exact - 1 < got <= exact


def test_no_values_no_percentile() -> None:
    assert hist_percentile({}, 50) is None


def test_service_level_at_a_whole_target_is_exact_from_the_ceil_histogram() -> None:
    rnd = random.Random(7)
    speeds_us = [rnd.randrange(0, 60_000_000) for _ in range(500)] + [20_000_000, 20_000_001]
    hist = Counter(math.ceil(us / 1e6) for us in speeds_us)
    for target in (0, 1, 12, 20, 30):
        assert at_most(hist, target) == sum(1 for us in speeds_us if us <= target * 1_000_000)
    assert whole_targets({"q": 12.0}, 20.0) and not whole_targets({"q": 12.5}, 20.0)


def test_stored_text_round_trips() -> None:
    hist = {0: 3, 17: 1, 301: 2}
    assert parse(render(hist)) == hist and parse("") == {} and parse(None) == {}


def test_zones_on_and_off_the_grid() -> None:
    year = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    for name in ("Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"):
        assert zone_fits(ZoneInfo(name), *year), name
    # Amsterdam kept its local mean time (+00:19:32) until 1937
    old = (datetime(1935, 1, 1, tzinfo=UTC), datetime(1936, 1, 1, tzinfo=UTC))
    assert not zone_fits(ZoneInfo("Europe/Amsterdam"), *old)


def test_the_intervals_to_build_are_read_as_runs_of_adjacent_intervals() -> None:
    """A build reads only the calls of the intervals it builds (a minute's pass: the one
    just settled, not its whole day under the write lock), in as few ranges as can be."""
    q = INTERVAL_US
    assert runs_of([]) == []
    assert runs_of([5 * q]) == [(5 * q, 6 * q)]
    assert runs_of([0, q, 2 * q, 7 * q, 9 * q, 10 * q]) == [
        (0, 3 * q),
        (7 * q, 8 * q),
        (9 * q, 11 * q),
    ]
