"""The period a report covers, from what a person types: `2026-11-30` (a whole local
day) or `2026-11-30T09:00` (local time) or with an offset; one rule for CLI and API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

DEFAULT_DAYS = 7
# The moments a report may start or end at (UTC): the local days 1970-01-01 to
# 9998-12-31 in any zone. Nothing is recorded before the epoch, and the ends keep a
# year's room inside `datetime` so that a zone's offset, the default week before an end
# and the period before one the API or console allows (compare) never overflow (an
# OverflowError was a traceback in the CLI and a 500 in the API).
EARLIEST = datetime(1969, 12, 31, tzinfo=UTC)
LATEST = datetime(9999, 1, 2, tzinfo=UTC)
RANGE = "from 1970-01-01 to 9998-12-31"


class PeriodError(ValueError):
    """A period that cannot be read; the message says what would be valid. `parameter`:
    the end at fault ("from", "to"), None when it is both (an empty period)."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


def parse_moment(text: str, tz: tzinfo, *, end: bool) -> datetime:
    """A date is its local midnight; as the end of a period, the midnight after it (so
    `--from 2026-11-30 --to 2026-11-30` is that whole day). A date is any ISO 8601 date,
    `20261130` too. A time without an offset is local to `tz` (a local time skipped or
    repeated by a clock change takes zoneinfo's `fold=0` reading). `PeriodError` for
    text that is no moment or one outside `EARLIEST`..`LATEST`."""
    parameter = "to" if end else "from"
    try:
        moment = _moment(text, tz, end)
        inside = EARLIEST <= moment <= LATEST  # compared in UTC: may overflow too
    except ValueError:
        raise PeriodError(
            f"{text!r}: expected a date (2026-11-30) or a date and time (2026-11-30T09:00)",
            parameter,
        ) from None
    except OverflowError:
        inside = False
    if not inside:
        raise PeriodError(
            f"{text!r}: out of range: a report covers days {RANGE}",
            parameter,
        )
    return moment


def _moment(text: str, tz: tzinfo, end: bool) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return datetime.combine(day + timedelta(days=1 if end else 0), time(), tz)


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
    midnight stays so across a clock change when the period is given in its zone.
    `PeriodError` when it falls off the calendar (a very long period of the CLI's, which
    has no length cap)."""
    start, end = period
    try:
        return start - (end - start), start
    except OverflowError:
        raise PeriodError(
            f"the period before {start.isoformat()} would start before year 1: compare a"
            " shorter period",
            "from",
        ) from None
