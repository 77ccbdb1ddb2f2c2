"""Opening hours: weekly hours, RU holidays and transfers, local overrides, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from router.domain.calendar import (
    Calendar,
    DayOverride,
    TimeRange,
    hours_on,
    is_open,
    next_opening,
    public_holiday,
    transferred_workday,
)

MSK = ZoneInfo("Europe/Moscow")


def r(start: str, end: str) -> TimeRange:
    return TimeRange(time.fromisoformat(start), time.fromisoformat(end))


WEEKDAYS_9_18 = {d: (r("09:00", "18:00"),) for d in range(5)}


def cal(**kw: object) -> Calendar:
    base: dict[str, object] = {"id": "c", "weekly": WEEKDAYS_9_18}
    base.update(kw)
    return Calendar(**base)  # type: ignore[arg-type]


def test_weekly_hours_start_inclusive_end_exclusive() -> None:
    c = cal()
    assert is_open(c, datetime(2026, 12, 29, 9, 0)).open  # a Tuesday
    assert is_open(c, datetime(2026, 12, 29, 17, 59)).open
    assert not is_open(c, datetime(2026, 12, 29, 18, 0)).open
    assert not is_open(c, datetime(2026, 12, 29, 8, 59)).open


def test_weekend_closed_without_hours() -> None:
    assert not is_open(cal(), datetime(2026, 12, 27, 12, 0)).open  # Sunday


def test_public_holidays_close_the_day() -> None:
    c = cal()
    state = is_open(c, datetime(2026, 1, 5, 12, 0))  # Monday, New Year holidays
    assert not state.open
    assert "public holiday" in state.day.reason


def test_transferred_day_off_is_closed() -> None:
    # 2026-12-31 (Thursday) is a day off transferred from 2026-01-04.
    assert public_holiday("RU", date(2026, 12, 31)) is not None
    assert not is_open(cal(), datetime(2026, 12, 31, 12, 0)).open


def test_transferred_working_saturday_uses_monday_hours() -> None:
    # 2027-02-20 (Saturday) is worked instead of Monday 2027-02-22.
    assert transferred_workday("RU", date(2027, 2, 20))
    day = hours_on(cal(), date(2027, 2, 20))
    assert day.hours == (r("09:00", "18:00"),)
    assert not is_open(cal(), datetime(2027, 2, 22, 12, 0)).open


def test_local_override_working_saturday_with_hours() -> None:
    saturday = date(2026, 12, 26)
    c = cal(overrides={saturday: DayOverride(saturday, (r("10:00", "14:00"),), "extra day")})
    assert is_open(c, datetime(2026, 12, 26, 11, 0)).open
    assert not is_open(c, datetime(2026, 12, 26, 15, 0)).open
    assert "extra day" in hours_on(c, saturday).reason


def test_local_override_beats_a_public_holiday_and_can_close_a_workday() -> None:
    holiday, workday = date(2026, 1, 5), date(2026, 12, 29)
    c = cal(
        overrides={
            holiday: DayOverride(holiday, (r("10:00", "16:00"),)),
            workday: DayOverride(workday, ()),
        }
    )
    assert is_open(c, datetime(2026, 1, 5, 12, 0)).open
    assert not is_open(c, datetime(2026, 12, 29, 12, 0)).open


def test_shortened_pre_holiday_day() -> None:
    c = cal(shorten_before_holiday_min=60)
    # Friday 2026-06-11 is before Russia Day (2026-06-12).
    assert hours_on(c, date(2026, 6, 11)).hours == (r("09:00", "17:00"),)
    assert not is_open(c, datetime(2026, 6, 11, 17, 30)).open
    assert hours_on(c, date(2026, 6, 10)).hours == (r("09:00", "18:00"),)


def test_no_country_means_no_holidays() -> None:
    assert is_open(cal(country=None), datetime(2026, 1, 5, 12, 0)).open


def test_aware_times_are_converted_to_the_calendar_zone() -> None:
    c = cal(timezone="Asia/Yekaterinburg")  # UTC+5
    utc_0530 = datetime(2026, 12, 29, 5, 30, tzinfo=UTC)  # 10:30 local
    state = is_open(c, utc_0530)
    assert state.open
    assert state.local_time.hour == 10
    utc_0330 = datetime(2026, 12, 29, 3, 30, tzinfo=UTC)  # 08:30 local
    assert not is_open(c, utc_0330).open
    assert is_open(cal(), datetime(2026, 12, 29, 6, 30, tzinfo=UTC)).open  # 09:30 MSK


def test_next_opening_skips_holidays_and_weekend() -> None:
    c = cal()
    opening = next_opening(c, datetime(2026, 12, 30, 19, 0))
    assert opening == datetime(2027, 1, 11, 9, 0, tzinfo=MSK)


def test_next_opening_when_open_is_now_and_lunch_break() -> None:
    c = cal(weekly={1: (r("08:00", "13:00"), r("14:00", "20:00"))})
    now = datetime(2026, 12, 29, 12, 0)
    assert next_opening(c, now) == now.replace(tzinfo=MSK)
    assert next_opening(c, datetime(2026, 12, 29, 13, 30)) == datetime(
        2026, 12, 29, 14, 0, tzinfo=MSK
    )


def test_next_opening_none_when_never_open() -> None:
    assert next_opening(cal(weekly={}), datetime(2026, 12, 29, 12, 0)) is None
