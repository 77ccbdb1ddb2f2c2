"""Call figures: offered, answered, abandoned (where), service level, waits, talk time
and route length, for a whole period or grouped by line, queue, day or hour."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from router.domain.reports.records import CallRecord, MissRecord
from router.domain.reports.stats import mean, percentile, rounded, share

DEFAULT_SL_TARGET_S = 20.0
CallGroup = Literal["line", "branch", "queue", "day", "hour", "hour_of_week"]
CALL_GROUPS: tuple[CallGroup, ...] = ("line", "branch", "queue", "day", "hour", "hour_of_week")
NONE_KEY = "-"  # a call with no line / that never waited for a queue


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


def _secs(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds()


def wait_s(call: CallRecord) -> float | None:
    """How long a caller waited for an operator: to the answer, else to hanging up or the
    wait's end. None: they never waited, or are waiting still."""
    start = call.facts.waiting_at
    if start is None:
        return None
    stop = call.answered_at or call.ended_at
    return None if stop is None else max(0.0, (stop - start).total_seconds())


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
    targets = sl_targets or {}
    outcome = [c.outcome for c in calls]
    where = [c.facts.abandoned for c in calls]
    waits: list[float] = []
    in_target = 0
    answer_speeds: list[float] = []
    talks: list[float] = []
    known: list[float] = []
    unknown: list[float] = []
    for c in calls:
        f = c.facts
        ringing = _secs(c.started_at, f.first_ring_at)
        if ringing is not None:
            (known if c.known else unknown).append(ringing)
        talk = _secs(c.answered_at, c.ended_at)
        if talk is not None:
            talks.append(talk)
        wait = wait_s(c)
        if wait is None:
            continue  # never waited, or still waiting: counted when it ends
        waits.append(wait)
        speed = _secs(f.waiting_at, c.answered_at)
        if speed is not None:
            answer_speeds.append(max(speed, 0.0))
            if speed <= targets.get(f.queue or "", default_sl_s):
                in_target += 1
    return CallFigures(
        key=key,
        offered=len(calls) + len(fallback_misses),
        answered=outcome.count("answered"),
        abandoned_in_menu=where.count("menu"),
        abandoned_waiting=where.count("waiting"),
        abandoned_ringing=where.count("ringing"),
        no_operator=outcome.count("no_operator") + len(fallback_misses),
        callback_promised=outcome.count("callback") + outcome.count("voicemail"),
        message=outcome.count("message"),
        failed=outcome.count("failed") + outcome.count("lost"),
        fallback=sum(1 for c in calls if c.facts.fallback) + len(fallback_misses),
        waited=len(waits),
        service_level=rounded(share(in_target, len(waits)), 4),
        asa_s=rounded(mean(answer_speeds)),
        wait_p50_s=rounded(percentile(waits, 50)),
        wait_p90_s=rounded(percentile(waits, 90)),
        wait_max_s=rounded(max(waits, default=None)),
        talk_avg_s=rounded(mean(talks)),
        talk_total_s=round(sum(talks), 1),
        route_known_s=rounded(percentile(known, 50)),
        route_unknown_s=rounded(percentile(unknown, 50)),
    )


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
    order: dict[str, datetime] = {}
    for c in calls:
        k = key(c)
        grouped[k].append(c)
        order[k] = min(order.get(k, c.started_at), c.started_at)
    missed: dict[str, list[MissRecord]] = defaultdict(list)
    miss_key = _miss_key(group, tz, branches)
    for m in fallback_misses:
        k = miss_key(m)
        missed[k].append(m)
        order[k] = min(order.get(k, m.missed_at), m.missed_at)
    keys = sorted(order, key=lambda k: (order[k], k) if group in ("day", "hour") else (k, k))
    if group == "hour_of_week":
        keys = sorted(order, key=week_order)
    return [
        call_figures(k, grouped.get(k, []), missed.get(k, []), sl_targets, default_sl_s)
        for k in keys
    ]


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_of_week(local: datetime) -> str:
    # Not strftime("%a"): that follows the process locale.
    return f"{_DAYS[local.weekday()]} {local.hour:02d}"


def week_order(key: str) -> tuple[int, str]:
    day, _, hour = key.partition(" ")
    return (_DAYS.index(day) if day in _DAYS else 7, hour)
