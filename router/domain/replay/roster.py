"""Who is on duty when, for the replay: a roster file, or the period as it happened.

A roster (`--roster ROSTER.yaml`):

    shifts:
      - operators: [op1001, op1002]
        days: [mon, tue, wed, thu, fri]
        from: "09:00"
        to: "18:00"

Times are local to the reports' zone; `to` before `from` runs past midnight.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from router.domain.replay.model import Duty

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RosterError(ValueError):
    """A roster that cannot be read; the message names the shift and key."""


@dataclass(frozen=True, slots=True)
class Shift:
    operators: frozenset[str]
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time

    def covers(self, local: datetime) -> bool:
        day, now = local.weekday(), local.time()
        if self.start <= self.end:
            return day in self.days and self.start <= now < self.end
        # Past midnight: the evening of a rostered day, or the morning after it.
        return (day in self.days and now >= self.start) or (
            (day - 1) % 7 in self.days and now < self.end
        )


@dataclass(frozen=True, slots=True)
class Roster:
    shifts: tuple[Shift, ...]

    def on_duty(self, operator_id: str, local: datetime) -> bool:
        return any(operator_id in s.operators and s.covers(local) for s in self.shifts)

    @property
    def operators(self) -> frozenset[str]:
        return frozenset().union(*(s.operators for s in self.shifts))


def roster_from(doc: object) -> Roster:
    """The roster of a parsed YAML document; `RosterError` says what is wrong where."""
    if (
        not isinstance(doc, Mapping)
        or set(doc) != {"shifts"}
        or not isinstance(doc["shifts"], list)
    ):
        raise RosterError("a roster is a mapping with one key, 'shifts': a list of shifts")
    return Roster(tuple(_shift(i, s) for i, s in enumerate(doc["shifts"])))


def _shift(i: int, raw: Any) -> Shift:
    where = f"shifts[{i}]"
    keys = {"operators", "days", "from", "to"}
    if not isinstance(raw, Mapping) or set(raw) != keys:
        raise RosterError(f"{where}: give exactly {', '.join(sorted(keys))}")
    ops, days = raw["operators"], raw["days"]
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops):
        raise RosterError(f"{where}.operators: a list of operator ids")
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise RosterError(f"{where}.days: a list of {', '.join(DAYS)}")
    return Shift(
        frozenset(ops),
        frozenset(DAYS.index(d) for d in days),
        _time(f"{where}.from", raw["from"]),
        _time(f"{where}.to", raw["to"]),
    )


def _time(where: str, value: object) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise RosterError(f'{where}: a time like "09:00", not {value!r}') from None


def duty_as_happened(intervals: Mapping[str, Sequence[tuple[float, float]]]) -> Duty:
    """On duty as it happened: each operator's (from, to) seconds after the start,
    ascending and not overlapping (`inputs.duty_intervals`); `to` may be infinite."""
    starts = {op_id: [a for a, _ in spans] for op_id, spans in intervals.items()}

    def on(op_id: str, t: float) -> bool:
        i = bisect_right(starts.get(op_id, ()), t) - 1
        return i >= 0 and t < intervals[op_id][i][1]

    moments = {t for spans in intervals.values() for span in spans for t in span}
    return Duty(on, tuple(sorted(t for t in moments if math.isfinite(t))))


def roster_duty(roster: Roster, period: tuple[datetime, datetime], tz: tzinfo) -> Duty:
    """The replay's `Duty` (operator, seconds from the period's start) for a roster. Its
    changes are every shift's `from` and `to` on every local day of the period and the
    two after it (calls run past the end), in both readings of a time the clocks repeat."""
    base = period[0].timestamp()

    def on(op_id: str, t: float) -> bool:
        return roster.on_duty(op_id, datetime.fromtimestamp(base + t, tz))

    first = period[0].astimezone(tz).date() - timedelta(days=1)
    days = (period[1] - period[0]).days + 4
    times = {t for s in roster.shifts for t in (s.start, s.end)}
    moments = {
        datetime.combine(first + timedelta(days=d), t, tz).replace(fold=fold).timestamp() - base
        for d in range(days)
        for t in times
        for fold in (0, 1)
    }
    return Duty(on, tuple(sorted(m for m in moments if m >= 0)))
