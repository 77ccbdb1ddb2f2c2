"""Call figures: offered, answered, abandoned (where), service level, waits, talk time
and route length, for a whole period or grouped by line, queue, day or hour."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from router.domain.reports.records import CallRecord, MissRecord
from router.domain.reports.stats import percentile, rounded, share

DEFAULT_SL_TARGET_S = 20.0
CallGroup = Literal["line", "branch", "queue", "day", "hour", "hour_of_week"]
CALL_GROUPS: tuple[CallGroup, ...] = ("line", "branch", "queue", "day", "hour", "hour_of_week")
NONE_KEY = "-"  # a call with no line / that never waited for a queue
WAIT_EDGES = (0, 10, 20, 30, 60, 120, 300)  # seconds: the last bucket is "300 s and more"


@dataclass(frozen=True, slots=True)
class CallFigures:
    """One row of the calls report. Times are seconds; None: nothing to measure."""

    key: str
    offered: int
    answered: int
    abandoned_in_menu: int
    abandoned_waiting: int
    abandoned_ringing: int
    no_operator: int
    callback_promised: int  # the rules promised a call back or took a voicemail
    message: int  # a message was played and the call ended, as the rules say
    failed: int  # a technical failure or a call lost while the router was away
    fallback: int  # handed to the dialplan fallback (router fault) or missed there
    waited: int  # calls that waited for an operator: the service level's base
    service_level: float | None  # share of `waited` answered within the target
    asa_s: float | None  # average speed of answer (from the start of the wait)
    wait_p50_s: float | None
    wait_p90_s: float | None
    wait_max_s: float | None
    talk_avg_s: float | None
    talk_total_s: float
    route_known_s: float | None  # median start → first ring, identified patients
    route_unknown_s: float | None  # the same for callers not identified

    @property
    def abandoned(self) -> int:
        return self.abandoned_in_menu + self.abandoned_waiting + self.abandoned_ringing


@dataclass(frozen=True, slots=True)
class CallSums:
    """What a row of call figures is made of: counts, durations summed in whole
    microseconds (so a sum is the same wherever it is taken), and the percentiles.
    `call_sums` takes them from records; the storage's SQL takes them in the database;
    `figures_of` turns either into the figures, so each figure is defined once."""

    calls: int = 0
    answered: int = 0
    abandoned_in_menu: int = 0
    abandoned_waiting: int = 0
    abandoned_ringing: int = 0
    no_operator: int = 0
    callback_promised: int = 0
    message: int = 0
    failed: int = 0
    fallback: int = 0
    waited: int = 0
    in_target: int = 0
    speeds: int = 0  # answered calls that waited
    speed_us: int = 0  # their time from the start of the wait to the answer (>= 0)
    talks: int = 0
    talk_us: int = 0
    wait_us: int = 0  # the waits of the calls that waited (`waited`)
    wait_buckets: tuple[int, ...] = (0,) * len(WAIT_EDGES)  # how many waited how long
    wait_p50_s: float | None = None
    wait_p90_s: float | None = None
    wait_max_s: float | None = None
    route_known_s: float | None = None
    route_unknown_s: float | None = None


def us_between(a: datetime | None, b: datetime | None) -> int | None:
    """Whole microseconds from `a` to `b` (None when either is missing)."""
    return None if a is None or b is None else (b - a) // _MICROSECOND


_MICROSECOND = timedelta(microseconds=1)
_OUTCOMES = {
    "answered": "answered",
    "no_operator": "no_operator",
    "callback": "callback_promised",
    "voicemail": "callback_promised",
    "message": "message",
    "failed": "failed",
    "lost": "failed",
}  # a call's outcome -> the count it adds to


def wait_bucket(wait_us: int) -> int:
    """The `WAIT_EDGES` bucket of a wait (the storage's SQL counts the same)."""
    return sum(1 for edge in WAIT_EDGES[1:] if wait_us >= edge * 1_000_000)


def wait_s(call: CallRecord) -> float | None:
    """How long a caller waited for an operator: to the answer, else to hanging up or the
    wait's end. None: they never waited, or are waiting still."""
    wait = _wait_us(call)
    return None if wait is None else wait / 1e6


def _wait_us(call: CallRecord) -> int | None:
    wait = us_between(call.facts.waiting_at, call.answered_at or call.ended_at)
    return None if wait is None else max(0, wait)


def in_target(speed_us: int, target_s: float) -> bool:
    """Answered within the service-level target (the storage's SQL compares the same)."""
    return speed_us <= target_s * 1e6


def call_sums(
    calls: Sequence[CallRecord],
    sl_targets: Mapping[str, float] | None = None,
    default_sl_s: float = DEFAULT_SL_TARGET_S,
) -> CallSums:
    """The sums of `calls` (see `call_figures`)."""
    targets = sl_targets or {}
    counts: Counter[str] = Counter()
    waits: list[float] = []
    known: list[float] = []
    unknown: list[float] = []
    for c in calls:
        f = c.facts
        counts[_OUTCOMES.get(c.outcome or "", "")] += 1
        counts[f"abandoned_in_{f.abandoned}"] += f.abandoned is not None
        counts["fallback"] += f.fallback
        ringing = us_between(c.started_at, f.first_ring_at)
        if ringing is not None:
            (known if c.known else unknown).append(ringing / 1e6)
        talk = us_between(c.answered_at, c.ended_at)
        if talk is not None:
            counts["talks"] += 1
            counts["talk_us"] += talk
        wait = _wait_us(c)
        if wait is None:
            continue  # never waited, or still waiting: counted when it ends
        waits.append(wait / 1e6)
        counts["wait_us"] += wait
        counts[f"wait_bucket_{wait_bucket(wait)}"] += 1
        speed = us_between(f.waiting_at, c.answered_at)
        if speed is not None:
            counts["speeds"] += 1
            counts["speed_us"] += max(speed, 0)
            counts["in_target"] += in_target(speed, targets.get(f.queue or "", default_sl_s))
    return CallSums(
        calls=len(calls),
        answered=counts["answered"],
        abandoned_in_menu=counts["abandoned_in_menu"],
        abandoned_waiting=counts["abandoned_in_waiting"],
        abandoned_ringing=counts["abandoned_in_ringing"],
        no_operator=counts["no_operator"],
        callback_promised=counts["callback_promised"],
        message=counts["message"],
        failed=counts["failed"],
        fallback=counts["fallback"],
        waited=len(waits),
        in_target=counts["in_target"],
        speeds=counts["speeds"],
        speed_us=counts["speed_us"],
        talks=counts["talks"],
        talk_us=counts["talk_us"],
        wait_us=counts["wait_us"],
        wait_buckets=tuple(counts[f"wait_bucket_{i}"] for i in range(len(WAIT_EDGES))),
        wait_p50_s=percentile(waits, 50),
        wait_p90_s=percentile(waits, 90),
        wait_max_s=max(waits, default=None),
        route_known_s=percentile(known, 50),
        route_unknown_s=percentile(unknown, 50),
    )


def figures_of(key: str, sums: CallSums, fallback_misses: int = 0) -> CallFigures:
    """The figures from their sums; `fallback_misses`: see `call_figures`."""
    return CallFigures(
        key=key,
        offered=sums.calls + fallback_misses,
        answered=sums.answered,
        abandoned_in_menu=sums.abandoned_in_menu,
        abandoned_waiting=sums.abandoned_waiting,
        abandoned_ringing=sums.abandoned_ringing,
        no_operator=sums.no_operator + fallback_misses,
        callback_promised=sums.callback_promised,
        message=sums.message,
        failed=sums.failed,
        fallback=sums.fallback + fallback_misses,
        waited=sums.waited,
        service_level=rounded(share(sums.in_target, sums.waited), 4),
        asa_s=rounded(mean_us(sums.speed_us, sums.speeds)),
        wait_p50_s=rounded(sums.wait_p50_s),
        wait_p90_s=rounded(sums.wait_p90_s),
        wait_max_s=rounded(sums.wait_max_s),
        talk_avg_s=rounded(mean_us(sums.talk_us, sums.talks)),
        talk_total_s=round(sums.talk_us / 1e6, 1),
        route_known_s=rounded(sums.route_known_s),
        route_unknown_s=rounded(sums.route_unknown_s),
    )


def mean_us(total_us: int, count: int) -> float | None:
    """A mean in seconds of durations summed in microseconds."""
    return total_us / count / 1e6 if count else None


def call_figures(
    key: str,
    calls: Sequence[CallRecord],
    fallback_misses: Sequence[MissRecord] = (),
    sl_targets: Mapping[str, float] | None = None,
    default_sl_s: float = DEFAULT_SL_TARGET_S,
) -> CallFigures:
    """Figures of `calls`. `fallback_misses`: misses the dialplan fallback left for calls
    the router never saw (router down): offered and missed, counted under `fallback` and
    `no_operator`. `sl_targets`: a queue's service-level target by the label it was
    waited for under ("queue dms"); others use `default_sl_s`."""
    sums = call_sums(calls, sl_targets, default_sl_s)
    return figures_of(key, sums, len(fallback_misses))


def group_key(
    group: CallGroup, tz: tzinfo, branches: Mapping[str, str] | None = None
) -> Callable[[CallRecord], str]:
    """A call's row in a grouped report. Days and hours are local to `tz`, by the call's
    start (a call across midnight counts on the day it began). An hour carries its UTC
    offset, so the hour repeated when clocks go back is two rows, not one doubled.
    `branches`: each line's branch (the rules' lines), for `branch`."""
    if group == "line":
        return lambda c: c.line or NONE_KEY
    if group == "branch":
        of_line = branches or {}
        return lambda c: of_line.get(c.line or "") or NONE_KEY
    if group == "queue":
        return lambda c: c.facts.queue or NONE_KEY
    if group == "day":
        return lambda c: c.started_at.astimezone(tz).strftime("%Y-%m-%d")
    if group == "hour":
        return lambda c: c.started_at.astimezone(tz).strftime("%Y-%m-%d %H:00%z")
    return lambda c: hour_of_week(c.started_at.astimezone(tz))


def _miss_key(
    group: CallGroup, tz: tzinfo, branches: Mapping[str, str] | None
) -> Callable[[MissRecord], str]:
    as_call = group_key(group, tz, branches)
    return lambda m: as_call(CallRecord(m.call_id, m.missed_at, None, line=m.line))


def calls_by(
    group: CallGroup,
    calls: Iterable[CallRecord],
    fallback_misses: Iterable[MissRecord],
    tz: tzinfo,
    sl_targets: Mapping[str, float] | None = None,
    default_sl_s: float = DEFAULT_SL_TARGET_S,
    branches: Mapping[str, str] | None = None,
) -> list[CallFigures]:
    """`call_figures` per group, in key order (hours and days in time order)."""
    key = group_key(group, tz, branches)
    grouped: dict[str, list[CallRecord]] = defaultdict(list)
    first: dict[str, datetime] = {}
    for c in calls:
        k = key(c)
        grouped[k].append(c)
        first[k] = min(first.get(k, c.started_at), c.started_at)
    sums = {k: call_sums(v, sl_targets, default_sl_s) for k, v in grouped.items()}
    return grouped_figures(group, sums, first, fallback_misses, tz, branches)


def grouped_figures(
    group: CallGroup,
    sums: Mapping[str, CallSums],
    first: Mapping[str, datetime],
    fallback_misses: Iterable[MissRecord],
    tz: tzinfo,
    branches: Mapping[str, str] | None = None,
) -> list[CallFigures]:
    """The rows of a grouped report from each group's sums and first call (taken from
    records by `calls_by`, or by the database), with the fallback's misses added."""
    order = dict(first)
    missed: dict[str, int] = defaultdict(int)
    miss_key = _miss_key(group, tz, branches)
    for m in fallback_misses:
        k = miss_key(m)
        missed[k] += 1
        order[k] = min(order.get(k, m.missed_at), m.missed_at)
    keys = sorted(order, key=lambda k: (order[k], k) if group in ("day", "hour") else (k, k))
    if group == "hour_of_week":
        keys = sorted(order, key=week_order)
    return [figures_of(k, sums.get(k, CallSums()), missed.get(k, 0)) for k in keys]


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_of_week(local: datetime) -> str:
    # Not strftime("%a"): that follows the process locale.
    return f"{_DAYS[local.weekday()]} {local.hour:02d}"


def week_order(key: str) -> tuple[int, str]:
    day, _, hour = key.partition(" ")
    return (_DAYS.index(day) if day in _DAYS else 7, hour)
