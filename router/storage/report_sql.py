"""The call and operator figures of a period, summed by the database (GROUP BY), so a
report of a year of a busy clinic (a million calls) does not turn every row into a Python
object. The figures stay defined once, in `router.domain.reports`: the database gives the
`CallSums` and `OperatorSums` (counts, durations summed in whole microseconds, the two
values each percentile lies between) and the pure module makes the figures of them.
`tests/component/test_storage_report_sql.py` holds both ways to the same figures.

- Durations: whole microseconds from each timestamp (SQLite keeps ISO text: the epoch
  seconds of its first 19 characters and the 6 digits after the dot; PostgreSQL: the
  epoch of the `timestamptz`), so sums are exact on both.
- Percentiles: both databases rank the values (`row_number()` over the group) and return
  only the two ranks each percentile lies between; the interpolation is the pure
  module's (`stats.interpolate`). Exact, and no row but those leaves the database.
  (PostgreSQL's `percentile_cont` computes the same interpolation, but with the position
  as `0.9 * (n - 1)`, which can differ from ours in the last bit.)
- Local days and hours: the zone's UTC offsets over the period are worked out here (its
  changes found to the second) and applied as a CASE on the start time, so a day or an
  hour is the same on SQLite, which knows no zones, as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    null,
    or_,
    select,
)

from router.domain.reports.calls import NONE_KEY, WAIT_EDGES, CallGroup, CallSums
from router.domain.reports.operators import OperatorSums
from router.domain.reports.stats import interpolate, percentile_ranks
from router.storage.db import Database
from router.storage.report_facts_sql import FACTS, epoch_us, facts, from_us, instant_us
from router.storage.tables import calls, ring_attempts

_c, _r = calls.c, ring_attempts.c
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # SQL's weekday numbers: 0 Sunday


@dataclass(frozen=True, slots=True)
class CallGroups:
    """`CallSums` per group key, and when each group's first call started."""

    sums: dict[str, CallSums]
    first: dict[str, datetime]


class ReportSql:
    """Sums of a period's calls and rings, taken by the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def call_sums(
        self,
        start: datetime,
        end: datetime,
        tz: tzinfo,
        groups: Sequence[CallGroup | None] = (None,),
        sl_targets: Mapping[str, float] | None = None,
        default_sl_s: float = 20.0,
        branches: Mapping[str, str] | None = None,
    ) -> list[CallGroups]:
        """`CallSums` of the calls started in `[start, end)` for each of `groups` (one key,
        "total", for None)."""
        d = self._db.dialect_name
        out = []
        async with self._db.connect() as conn:
            # (DDL outside a transaction on SQLite: dropped and committed below, so the
            # connection goes back to the pool without the table)
            await conn.run_sync(lambda sync: FACTS.create(sync, checkfirst=True))
            try:
                columns = [c.name for c in FACTS.columns]
                await conn.execute(FACTS.insert().from_select(columns, facts(d, start, end)))
                for group in groups:
                    m = measures(d, start, end, tz, group, sl_targets or {}, default_sl_s, branches)
                    rows = (await conn.execute(sums_stmt(m))).all()
                    waits = (await conn.execute(ranked(m, m.c.wait_us, (50, 90)))).all()
                    routes = (await conn.execute(ranked(m, m.c.route_us, (50,), m.c.known))).all()
                    out.append(_call_groups(rows, waits, routes))
            finally:
                await conn.run_sync(lambda sync: FACTS.drop(sync, checkfirst=True))
                await conn.commit()  # writes only the connection's own temporary tables
        return out

    async def operator_sums(self, start: datetime, end: datetime) -> dict[str, OperatorSums]:
        """Rings (by result) and talk per operator, of the calls started in the period."""
        d = self._db.dialect_name
        in_period = (_c.started_at >= start, _c.started_at < end)
        answered = and_(_r.result == "answered", _r.duration_ms.is_not(None))
        rings = (
            select(
                _r.operator_id,
                _r.result,
                func.count().label("n"),
                func.count(case((answered, 1))).label("answers"),
                func.sum(case((answered, _r.duration_ms))).label("answer_ms"),
            )
            .join(calls, _c.id == _r.call_id)
            .where(*in_period)
            .group_by(_r.operator_id, _r.result)
        )
        talk = epoch_us(d, _c.ended_at) - epoch_us(d, _c.answered_at)
        talks = (
            select(_c.operator_id, func.count().label("n"), func.sum(talk).label("talk_us"))
            .where(*in_period, _c.operator_id.is_not(None))
            .where(_c.answered_at.is_not(None), _c.ended_at.is_not(None))
            .group_by(_c.operator_id)
        )
        speeds = (
            select(
                _r.operator_id.label("key"),
                null().label("sub"),
                _r.duration_ms.label("v"),
            )
            .join(calls, _c.id == _r.call_id)
            .where(*in_period, answered)
            .subquery("answer_speeds")
        )
        out: dict[str, OperatorSums] = {}
        async with self._db.connect() as conn:
            for r in (await conn.execute(rings)).all():
                t = out.setdefault(r.operator_id, OperatorSums())
                t.results[r.result] += r.n
                t.answers += r.answers
                t.answer_ms += int(r.answer_ms or 0)
            for r in (await conn.execute(talks)).all():
                t = out.setdefault(r.operator_id, OperatorSums())
                t.talks, t.talk_us = r.n, int(r.talk_us or 0)
            speed_ranks = (await conn.execute(ranked(speeds, speeds.c.v, (50,)))).all()
        for (op, _, p), seconds in percentiles(speed_ranks, 1e3).items():
            if p == 50:
                out[op].answer_p50_s = seconds
        return out


def _call_groups(rows: Sequence[Any], waits: Sequence[Any], routes: Sequence[Any]) -> CallGroups:
    wait_p = percentiles(waits, 1e6)
    route_p = percentiles(routes, 1e6)
    sums, first = {}, {}
    for r in rows:
        sums[r.key] = CallSums(
            calls=r.calls, answered=r.answered, abandoned_in_menu=r.ab_menu,
            abandoned_waiting=r.ab_waiting, abandoned_ringing=r.ab_ringing,
            no_operator=r.no_operator, callback_promised=r.callback_promised,
            message=r.message, failed=r.failed, fallback=r.fallback, waited=r.waited,
            in_target=r.in_target, speeds=r.speeds, speed_us=int(r.speed_us or 0),
            talks=r.talks, talk_us=int(r.talk_us or 0), wait_us=int(r.wait_us or 0),
            wait_buckets=tuple(r._mapping[f"wait_bucket_{i}"] for i in range(len(WAIT_EDGES))),
            wait_p50_s=wait_p.get((r.key, None, 50)),
            wait_p90_s=wait_p.get((r.key, None, 90)),
            wait_max_s=None if r.wait_max_us is None else r.wait_max_us / 1e6,
            route_known_s=route_p.get((r.key, True, 50)),
            route_unknown_s=route_p.get((r.key, False, 50)),
        )  # fmt: skip
        first[r.key] = from_us(r.first_us)
    return CallGroups(sums, first)


def measures(
    dialect: str,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    group: CallGroup | None,
    targets: Mapping[str, float],
    default_sl_s: float,
    branches: Mapping[str, str] | None,
) -> Any:
    """Per call: its group key and what `call_sums` measures, in microseconds."""
    f = FACTS.c
    stop = func.coalesce(f.answered_us, f.ended_us)
    waited = stop - f.waiting_us
    speed = f.answered_us - f.waiting_us
    target = _by_value(f.queue, {k: v * 1e6 for k, v in targets.items()}, default_sl_s * 1e6)
    abandoned = f.outcome == "abandoned"
    return select(
        key_sql(dialect, f, group, tz, start, end, branches or {}).label("key"),
        f.line,
        f.queue,
        f.outcome,
        f.fallback,
        f.known,
        f.start_us,
        case(
            (abandoned & f.cancelled, "ringing"),
            (abandoned & f.waiting_us.is_not(None), "waiting"),
            (abandoned, "menu"),
        ).label("abandoned"),
        case((waited < 0, 0), else_=waited).label("wait_us"),  # NULL: never waited
        case((speed < 0, 0), else_=speed).label("speed_us"),
        (speed <= target).label("in_target"),
        (f.ended_us - f.answered_us).label("talk_us"),
        (f.ring_us - f.start_us).label("route_us"),
    ).subquery("measures")


def _by_value(column: Any, values: Mapping[str, Any], default: Any) -> Any:
    if not values:
        return literal(default)
    return case(*((column == k, literal(v)) for k, v in values.items()), else_=literal(default))


def key_sql(
    dialect: str,
    f: Any,
    group: CallGroup | None,
    tz: tzinfo,
    start: datetime,
    end: datetime,
    branches: Mapping[str, str],
) -> Any:
    """The group key of `router.domain.reports.calls.group_key`, computed by the database."""
    if group is None:
        return literal("total")
    if group == "line":
        return func.coalesce(f.line, NONE_KEY)
    if group == "branch":
        named = {line: b for line, b in branches.items() if b}
        return _by_value(f.line, named, NONE_KEY)
    if group == "queue":
        return case((or_(f.queue.is_(None), f.queue == ""), NONE_KEY), else_=f.queue)
    segments = zone_segments(tz, start, end)
    start_us = f.start_us
    offset = _segmented(start_us, [(at, off * 1_000_000) for at, off, _ in segments])
    local_s = (start_us + offset) // 1_000_000  # whole local seconds
    if group == "day":
        return _format(dialect, local_s, "day")
    if group == "hour":
        text = _segmented(start_us, [(at, z) for at, _, z in segments])
        return _format(dialect, local_s, "hour") + text
    weekday = _weekday(dialect, local_s)
    name = case(*((weekday == i, d) for i, d in enumerate(_DAYS)))
    return name + " " + _format(dialect, local_s, "hh")


def _segmented(start_us: Any, segments: Sequence[tuple[datetime, Any]]) -> Any:
    """The value of the segment `start_us` falls in (each from its UTC instant on)."""
    values = [literal(value) for _, value in segments]
    if len(values) == 1:
        return values[0]
    whens = [
        (start_us < instant_us(nxt[0]), v) for v, nxt in zip(values, segments[1:], strict=False)
    ]
    return case(*whens, else_=values[-1])


_FORMATS = {
    "sqlite": {"day": "%Y-%m-%d", "hour": "%Y-%m-%d %H:00", "hh": "%H"},
    "postgresql": {"day": "YYYY-MM-DD", "hour": "YYYY-MM-DD HH24:00", "hh": "HH24"},
}


def _format(dialect: str, local_s: Any, what: str) -> Any:
    """Format whole local seconds since the epoch (as if they were UTC)."""
    if dialect == "postgresql":
        utc = func.to_timestamp(local_s).op("AT TIME ZONE")("UTC")
        return func.to_char(utc, _FORMATS["postgresql"][what])
    return func.strftime(_FORMATS["sqlite"][what], local_s, "unixepoch")


def _weekday(dialect: str, local_s: Any) -> Any:
    """0 (Sunday) to 6, as an integer on both databases."""
    if dialect == "postgresql":
        utc = func.to_timestamp(local_s).op("AT TIME ZONE")("UTC")
        return cast(extract("dow", utc), Integer)
    return cast(func.strftime("%w", local_s, "unixepoch"), Integer)


def zone_segments(tz: tzinfo, start: datetime, end: datetime) -> list[tuple[datetime, int, str]]:
    """(from this instant, the UTC offset in seconds, as `%z` prints it) over the period:
    one segment per offset, each from the instant of its change."""

    def offset(at: datetime) -> timedelta:
        return at.astimezone(tz).utcoffset() or timedelta(0)

    def segment(at: datetime) -> tuple[datetime, int, str]:
        return (at, int(offset(at).total_seconds()), at.astimezone(tz).strftime("%z"))

    out = [segment(start)]
    step = timedelta(hours=1)
    at = start
    while at < end:
        nxt = min(at + step, end)
        if offset(nxt) != offset(at):
            low, high = at, nxt  # the change is in (low, high]: halve to the second
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if offset(mid) == offset(low) else (low, mid)
            out.append(segment(_exact(low, high, offset)))
        at = nxt
    return out


def _exact(low: datetime, high: datetime, offset: Callable[[datetime], timedelta]) -> datetime:
    """The instant the offset changes, in `(low, high]` (at most a second apart): zones
    change on whole seconds, so the first whole second there with the new offset. A row
    starting right at the change (an interval, an hour) must take the new one."""
    first = low.replace(microsecond=0) + timedelta(seconds=1)
    for at in (first, first + timedelta(seconds=1)):
        if at <= high and offset(at) == offset(high):
            return at
    return high


def sums_stmt(m: Any, keys: Sequence[Any] = ()) -> Select[Any]:
    """The sums per `keys` (default: the measures' group key)."""
    keys = keys or (m.c.key,)

    def count_if(condition: Any) -> Any:
        return func.count(case((condition, 1)))

    waited = m.c.wait_us.is_not(None)
    answered_wait = and_(waited, m.c.speed_us.is_not(None))
    return select(
        *keys,
        func.count().label("calls"),
        count_if(m.c.outcome == "answered").label("answered"),
        count_if(m.c.abandoned == "menu").label("ab_menu"),
        count_if(m.c.abandoned == "waiting").label("ab_waiting"),
        count_if(m.c.abandoned == "ringing").label("ab_ringing"),
        count_if(m.c.outcome == "no_operator").label("no_operator"),
        count_if(m.c.outcome.in_(("callback", "voicemail"))).label("callback_promised"),
        count_if(m.c.outcome == "message").label("message"),
        count_if(m.c.outcome.in_(("failed", "lost"))).label("failed"),
        count_if(m.c.fallback).label("fallback"),
        count_if(waited).label("waited"),
        count_if(and_(answered_wait, m.c.in_target)).label("in_target"),
        count_if(answered_wait).label("speeds"),
        func.sum(case((answered_wait, m.c.speed_us))).label("speed_us"),
        count_if(m.c.talk_us.is_not(None)).label("talks"),
        func.sum(m.c.talk_us).label("talk_us"),
        func.sum(m.c.wait_us).label("wait_us"),
        *(
            count_if(_in_bucket(m.c.wait_us, i)).label(f"wait_bucket_{i}")
            for i in range(len(WAIT_EDGES))
        ),
        func.max(m.c.wait_us).label("wait_max_us"),
        func.min(m.c.start_us).label("first_us"),
    ).group_by(*keys)


def _in_bucket(wait_us: Any, index: int) -> Any:
    """The wait is in the `index`th of `WAIT_EDGES` (as `calls.wait_bucket` says)."""
    low = wait_us >= WAIT_EDGES[index] * 1_000_000
    if index + 1 == len(WAIT_EDGES):
        return low
    return and_(low, wait_us < WAIT_EDGES[index + 1] * 1_000_000)


def ranked(source: Any, value: Any, points: Sequence[int], sub: Any = None) -> Select[Any]:
    """The values each percentile of `points` lies between, per key (and `sub`): only
    their ranks leave the database."""
    sub = source.c.sub if sub is None and "sub" in source.c else sub
    parts = [source.c.key] + ([sub] if sub is not None else [])
    ranked = (
        select(
            source.c.key,
            (sub if sub is not None else null()).label("sub"),
            value.label("v"),
            (func.row_number().over(partition_by=parts, order_by=value) - 1).label("rank"),
            func.count().over(partition_by=parts).label("n"),
        )
        .where(value.is_not(None))
        .subquery("ranked")
    )
    wanted = []
    for p in points:
        low = (ranked.c.n - 1) * p // 100
        wanted += [ranked.c.rank == low, ranked.c.rank == low + 1]
    return select(ranked).where(or_(*wanted))


def percentiles(rows: Sequence[Any], per_second: float) -> dict[Any, float]:
    """(key, sub, p) -> the percentile in seconds, from the ranked rows; `per_second`:
    the values' unit (microseconds 1e6, milliseconds 1e3), converted before interpolating
    as `call_sums` and `operator_sums` do."""
    by_group: dict[tuple[Any, Any], dict[int, float]] = {}
    counts: dict[tuple[Any, Any], int] = {}
    for r in rows:
        group = (r.key, None if r.sub is None else bool(r.sub))
        by_group.setdefault(group, {})[r.rank] = r.v / per_second
        counts[group] = r.n
    out: dict[Any, float] = {}
    for group, values in by_group.items():
        n = counts[group]
        for p in _POINTS:
            low, high = percentile_ranks(n, p)
            if low in values and high in values:
                out[(*group, p)] = interpolate(values[low], values[high], n, p)
    return out


_POINTS = (50, 90)
