"""The period a report covers, from what a person types: `2026-11-30` (a whole local
day) or `2026-11-30T09:00` (local time) or with an offset; one rule for CLI and API."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

DEFAULT_DAYS = 7


class PeriodError(ValueError):
    """A period that cannot be read; the message says what would be valid."""


def parse_moment(text: str, tz: tzinfo, *, end: bool) -> datetime:
    """A date is its local midnight; as the end of a period, the midnight after it (so
    `--from 2026-11-30 --to 2026-11-30` is that whole day). A time without an offset is
    local to `tz` (a local time skipped or repeated by a clock change takes zoneinfo's
    `fold=0` reading)."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            midnight = datetime.combine(day + timedelta(days=1 if end else 0), time(), tz)
            return midnight
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(
            f"{text!r}: expected a date (2026-11-30) or a date and time (2026-11-30T09:00)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def parse_period(
    start: str | None, end: str | None, tz: tzinfo, now: datetime
) -> tuple[datetime, datetime]:
    """`[start, end)` in `tz`; by default the `DEFAULT_DAYS` days up to `now`.

    Both ends are in `tz` so that `previous` steps back in wall-clock time: aware
    datetimes of one zone subtract as the clock on the wall reads."""
    stop = parse_moment(end, tz, end=True) if end else now.astimezone(tz)
    begin = parse_moment(start, tz, end=False) if start else stop - timedelta(days=DEFAULT_DAYS)
    if begin >= stop:
        raise PeriodError(
            f"the period is empty: {begin.isoformat()} is not before {stop.isoformat()}"
        )
    return begin, stop


def previous(period: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    """The period of the same length just before (last week, for this week): midnight to
    midnight stays so across a clock change when the period is given in its zone."""
    start, end = period
    return start - (end - start), start
