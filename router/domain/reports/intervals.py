"""Call and ring figures from interval rollups: a period's settled 15-minute intervals
are summed once into rows (`report_intervals`, `report_operator_intervals`) so a year's
report adds up some hundred thousand rows instead of sorting a million calls per
percentile. Each row holds counts, durations summed in whole microseconds (exact), and
per-second histograms of the values whose percentiles the reports show:

- waits and route lengths by whole seconds down (`floor`), answer times of rings too;
- the speed of answer by whole seconds up (`ceil`): `speed <= T s` is `ceil(speed) <= T`
  for every whole-second target T, so the service level is exact at any integer target.

A percentile from histograms is exact to the second: each value counts as the start of
its second, so the figure is at most one second below the one the raw values give.
The wait buckets (`WAIT_EDGES`, whole seconds) come exactly from the floor histogram.
This module adds the rows up; the storage finds them (`router/storage/report_rollup_sql.py`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from router.domain.reports.calls import CallGroup, CallSums, group_key, wait_bucket
from router.domain.reports.records import CallRecord, JourneyFacts
from router.domain.reports.stats import interpolate, percentile_ranks

INTERVAL_S = 900  # 15 minutes: every zone's UTC offset in use is a multiple of it
INTERVAL_US = INTERVAL_S * 1_000_000
HOUR_US = 3_600 * 1_000_000  # the coarser rollups (storage/report_rollup_spans.py)
DAY_US = 24 * HOUR_US
Histogram = Mapping[int, int]  # whole seconds -> how many values


def parse(text: str | None) -> dict[int, int]:
    """A histogram as stored (JSON of {"second": count})."""
    if not text:
        return {}
    return {int(k): v for k, v in json.loads(text).items()}


def render(hist: Mapping[int, int]) -> str:
    return json.dumps({str(k): v for k, v in sorted(hist.items())}, separators=(",", ":"))


def runs_of(keys: Sequence[int], step: int = INTERVAL_US) -> list[tuple[int, int]]:
    """Sorted interval (or hour, day: `step`) starts in microseconds as runs of adjacent
    ones, `[first, end)` each."""
    runs: list[tuple[int, int]] = []
    for k in keys:
        if runs and runs[-1][1] == k:
            runs[-1] = (runs[-1][0], k + step)
        else:
            runs.append((k, k + step))
    return runs


def whole_spans(intervals: Iterable[int], length_us: int) -> list[int]:
    """The spans of `length_us` (UTC hours, days) all of whose intervals are among
    `intervals`, sorted."""
    per_span = Counter(k - k % length_us for k in set(intervals))
    return sorted(span for span, n in per_span.items() if n == length_us // INTERVAL_US)


def hist_percentile(hist: Histogram, p: int) -> float | None:
    """The p-th percentile (as `stats.percentile`) of values known to the second."""
    n = sum(hist.values())
    if not n:
        return None
    low, high = percentile_ranks(n, p)
    values: dict[int, float] = {}
    seen = 0
    for second in sorted(hist):
        count = hist[second]
        for rank in (low, high):
            if seen <= rank < seen + count:
                values[rank] = float(second)
        seen += count
        if high in values:
            break
    return interpolate(values[low], values[high], n, p)


def at_most(hist: Histogram, target_s: int) -> int:
    """How many values of a ceil-second histogram are within `target_s` seconds."""
    return sum(count for second, count in hist.items() if second <= target_s)


def whole_targets(targets: Mapping[str, float], default_s: float) -> bool:
    """Service-level targets the ceil histogram answers exactly (whole seconds)."""
    return all(float(t).is_integer() for t in (*targets.values(), default_s))


@dataclass(slots=True)
class CallRow:
    """One rollup row: the calls started in one interval on one line for one queue (the
    queue they first waited for; None: never waited), or the same summed over rows."""

    interval_us: int
    line: str | None
    queue: str | None
    calls: int = 0
    answered: int = 0
    ab_menu: int = 0
    ab_waiting: int = 0
    ab_ringing: int = 0
    no_operator: int = 0
    callback_promised: int = 0
    message: int = 0
    failed: int = 0
    fallback: int = 0
    waited: int = 0
    speeds: int = 0
    speed_us: int = 0
    talks: int = 0
    talk_us: int = 0
    wait_us: int = 0
    wait_max_us: int | None = None
    first_us: int | None = None
    waits: Counter[int] = field(default_factory=Counter)  # floor seconds
    speeds_up: Counter[int] = field(default_factory=Counter)  # ceil seconds
    route_known: Counter[int] = field(default_factory=Counter)
    route_unknown: Counter[int] = field(default_factory=Counter)


_COUNTS = (
    "calls", "answered", "ab_menu", "ab_waiting", "ab_ringing", "no_operator",
    "callback_promised", "message", "failed", "fallback", "waited", "speeds", "speed_us",
    "talks", "talk_us", "wait_us",
)  # fmt: skip
_HISTS = ("waits", "speeds_up", "route_known", "route_unknown")


def add_row(total: CallRow, row: CallRow) -> None:
    for name in _COUNTS:
        setattr(total, name, getattr(total, name) + getattr(row, name))
    for name in _HISTS:
        getattr(total, name).update(getattr(row, name))
    total.wait_max_us = _max(total.wait_max_us, row.wait_max_us)
    if row.first_us is not None:
        total.first_us = min(total.first_us or row.first_us, row.first_us)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def call_sums(row: CallRow, in_target: int) -> CallSums:
    """`CallSums` of summed rows (`in_target`: counted per queue by `sum_calls`)."""
    buckets = [0] * 7
    for second, count in row.waits.items():
        buckets[wait_bucket(second * 1_000_000)] += count
    return CallSums(
        calls=row.calls, answered=row.answered, abandoned_in_menu=row.ab_menu,
        abandoned_waiting=row.ab_waiting, abandoned_ringing=row.ab_ringing,
        no_operator=row.no_operator, callback_promised=row.callback_promised,
        message=row.message, failed=row.failed, fallback=row.fallback, waited=row.waited,
        in_target=in_target, speeds=row.speeds, speed_us=row.speed_us, talks=row.talks,
        talk_us=row.talk_us, wait_us=row.wait_us, wait_buckets=tuple(buckets),
        wait_p50_s=hist_percentile(row.waits, 50), wait_p90_s=hist_percentile(row.waits, 90),
        wait_max_s=None if row.wait_max_us is None else row.wait_max_us / 1e6,
        route_known_s=hist_percentile(row.route_known, 50),
        route_unknown_s=hist_percentile(row.route_unknown, 50),
    )  # fmt: skip


def row_key(
    group: CallGroup | None, tz: tzinfo, branches: Mapping[str, str] | None
) -> Callable[[CallRow], str]:
    """A row's group, as `calls.group_key` gives its calls' (a local hour or day is a
    union of whole intervals: the zone's offsets are multiples of 15 minutes)."""
    if group is None:
        return lambda _: "total"
    of_call = group_key(group, tz, branches)
    cache: dict[tuple[int, str | None, str | None], str] = {}

    def key(row: CallRow) -> str:
        k = (row.interval_us, row.line, row.queue)
        if k not in cache:
            start = from_us(row.interval_us)
            call = CallRecord("", start, None, line=row.line, facts=JourneyFacts(row.queue))
            cache[k] = of_call(call)
        return cache[k]

    return key


def sum_calls(
    rows: Iterable[tuple[str, CallRow]],
    targets: Mapping[str, float],
    default_s: float,
) -> tuple[dict[str, CallSums], dict[str, datetime]]:
    """Rows summed per group (each row with its group's key): the `CallSums` and when
    each group's first call started. The service level counts each queue's speeds
    against its own (whole-second) target."""
    totals: dict[str, CallRow] = {}
    in_target: Counter[str] = Counter()
    for k, row in rows:
        add_row(totals.setdefault(k, CallRow(0, None, None)), row)
        target = default_s if row.queue is None else targets.get(row.queue, default_s)
        in_target[k] += at_most(row.speeds_up, math.floor(target))
    sums = {k: call_sums(t, in_target[k]) for k, t in totals.items()}
    first = {k: from_us(t.first_us) for k, t in totals.items() if t.first_us is not None}
    return sums, first


@dataclass(slots=True)
class OperatorRow:
    """One operator's rings of one result, of the calls started in one interval; the
    talk of their answered calls on the row whose `result` is None."""

    interval_us: int
    operator_id: str
    result: str | None
    rings: int = 0
    answers: int = 0
    answer_ms: int = 0
    talks: int = 0
    talk_us: int = 0
    answer_s: Counter[int] = field(default_factory=Counter)  # floor seconds


def answer_p50(rows: Sequence[OperatorRow]) -> dict[str, float]:
    """Each operator's median answer time, from the rows' histograms."""
    hists: dict[str, Counter[int]] = {}
    for row in rows:
        hists.setdefault(row.operator_id, Counter()).update(row.answer_s)
    out = {}
    for op, hist in hists.items():
        p50 = hist_percentile(hist, 50)
        if p50 is not None:
            out[op] = p50
    return out


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
