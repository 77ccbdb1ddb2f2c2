"""Opening hours: weekly hours, public holidays and local overrides, in a branch's time zone.

A day's hours are decided in this order (the first that applies wins):
1. a local override for that date (`closed`, a working Saturday with its hours, a
   shortened day): the admin knows best;
2. a public holiday or transferred day off of the calendar's country (`holidays` package);
3. a transferred *working* day of the country (a Saturday worked instead of a bridge day):
   the hours of a normal Monday;
4. the weekly hours of that weekday.
Russian labour law (art. 95 of the Labour Code) shortens the working day before a public
holiday by one hour; `shorten_before_holiday_min` applies that to the end of the day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEARCH_DAYS = 400  # next_opening looks this far ahead: a year plus New Year holidays


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Open from `start` (inclusive) to `end` (exclusive), within one day."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        return self.start <= moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class DayOverride:
    """A local exception for one date. No ranges = closed that day."""

    day: date
    hours: tuple[TimeRange, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Calendar:
    id: str
    timezone: str = "Europe/Moscow"
    weekly: Mapping[int, tuple[TimeRange, ...]] = field(default_factory=dict)  # 0 = Monday
    country: str | None = "RU"
    overrides: Mapping[date, DayOverride] = field(default_factory=dict)
    shorten_before_holiday_min: int = 0


@dataclass(frozen=True, slots=True)
class DayHours:
    """The hours of one date and why they are what they are."""

    day: date
    hours: tuple[TimeRange, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class OpenState:
    open: bool
    local_time: datetime  # the moment in the calendar's time zone
    day: DayHours

    def explain(self) -> str:
        hours = ", ".join(str(r) for r in self.day.hours) or "closed all day"
        state = "open" if self.open else "closed"
        return f"{state} at {self.local_time:%Y-%m-%d %H:%M} ({self.day.reason}: {hours})"


@lru_cache(maxsize=64)
def _country_year(country: str, year: int) -> tuple[Mapping[date, str], frozenset[date]]:
    # The holidays package computes a whole year at once; cache it per country and year.
    table = holidays.country_holidays(country, years=year)
    workdays = frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
    return dict(table.items()), workdays


def public_holiday(country: str | None, day: date) -> str | None:
    """The name of the public holiday or transferred day off on `day`, if any."""
    if country is None:
        return None
    return _country_year(country, day.year)[0].get(day)


def transferred_workday(country: str | None, day: date) -> bool:
    """True for a weekend day the country made a working day (a transfer)."""
    if country is None:
        return False
    return day in _country_year(country, day.year)[1]


def hours_on(calendar: Calendar, day: date) -> DayHours:
    """The opening hours of `calendar` on `day` (a local date)."""
    override = calendar.overrides.get(day)
    if override is not None:
        note = f"local override ({override.note})" if override.note else "local override"
        return DayHours(day, override.hours, note)
    holiday = public_holiday(calendar.country, day)
    if holiday is not None:
        return DayHours(day, (), f"public holiday: {holiday}")
    if transferred_workday(calendar.country, day):
        base = DayHours(day, calendar.weekly.get(0, ()), "transferred working day (Monday hours)")
    else:
        name = WEEKDAYS[day.weekday()]
        base = DayHours(day, calendar.weekly.get(day.weekday(), ()), f"weekly hours ({name})")
    return _shorten_before_holiday(calendar, base)


def _shorten_before_holiday(calendar: Calendar, base: DayHours) -> DayHours:
    cut = calendar.shorten_before_holiday_min
    if cut <= 0 or not base.hours:
        return base
    if public_holiday(calendar.country, base.day + timedelta(days=1)) is None:
        return base
    *rest, last = base.hours
    end = datetime.combine(base.day, last.end) - timedelta(minutes=cut)
    shortened = list(rest)
    if end.time() > last.start and end.date() == base.day:
        shortened.append(TimeRange(last.start, end.time()))
    reason = f"{base.reason}, {cut} min shorter before a public holiday"
    return DayHours(base.day, tuple(shortened), reason)


def local_time(calendar: Calendar, moment: datetime) -> datetime:
    """`moment` in the calendar's zone; a naive datetime is taken as already local."""
    zone = ZoneInfo(calendar.timezone)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def is_open(calendar: Calendar, moment: datetime) -> OpenState:
    """Whether `calendar` is open at `moment`, with the day's hours and the reason."""
    local = local_time(calendar, moment)
    day = hours_on(calendar, local.date())
    now = local.time().replace(tzinfo=None)
    return OpenState(any(r.contains(now) for r in day.hours), local, day)


def next_opening(calendar: Calendar, moment: datetime) -> datetime | None:
    """The next moment at or after `moment` when `calendar` opens (aware, local zone).

    Returns `moment` itself (local) when already open; None when closed for over a year.
    """
    local = local_time(calendar, moment)
    if is_open(calendar, local).open:
        return local
    zone = ZoneInfo(calendar.timezone)
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for span in hours_on(calendar, day).hours:
            start = datetime.combine(day, span.start, tzinfo=zone)
            if start >= local:
                return start
    return None
