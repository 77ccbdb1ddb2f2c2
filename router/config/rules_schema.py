"""The schema of the routing sections of `rules.yaml`: lines, calendars, routes, menus,
queues and the callback policy (the skills and operators are in `rules.py`).

Each model validates shape, types and ranges; references between sections (a route naming
a menu, a queue naming a skill…) are checked afterwards by `rules_crosscheck.py`, which
knows every section and can say "did you mean".
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from router.config.errors import suggest
from router.config.fields import ConfigModel, LanguageCode, Slug, Text, parse_clock
from router.domain.calendar import WEEKDAYS, TimeRange
from router.domain.callback_policy import MissReason


def _one_or_many(value: Any) -> Any:
    """`tags_any: dms` means `tags_any: [dms]`: admins write one value without brackets."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [value]
    return value


Names = Annotated[tuple[str, ...], BeforeValidator(_one_or_many)]
Slugs = Annotated[tuple[Slug, ...], BeforeValidator(_one_or_many)]
Languages = Annotated[tuple[LanguageCode, ...], BeforeValidator(_one_or_many)]
Seconds = Annotated[StrictInt, Field(ge=0, le=86400)]
_RANGE = re.compile(r"\s*([^-\s]+)\s*-\s*([^-\s]+)\s*")
_DTMF = re.compile(r"[0-9*#]")


def parse_range(value: Any) -> TimeRange:
    """`"09:00-21:00"` -> TimeRange; start must be before end (no ranges over midnight)."""
    match = _RANGE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        shown = f"'{value}'" if isinstance(value, str) else f"the number {value}"
        raise ValueError(f'expected opening hours as "HH:MM-HH:MM" like "09:00-21:00", got {shown}')
    start, end = parse_clock(match.group(1)), parse_clock(match.group(2))
    if end <= start:
        raise ValueError(
            f"'{value}': the end {end:%H:%M} is not after the start {start:%H:%M}"
            " (a range cannot cross midnight: split it over two days)"
        )
    return TimeRange(start, end)


def parse_day_hours(value: Any) -> tuple[TimeRange, ...]:
    """`closed`, one range, or a list of ranges (a lunch break) in time order."""
    if value is None or (isinstance(value, str) and value.strip() == "closed"):
        return ()
    items = value if isinstance(value, list | tuple) else [value]
    ranges = tuple(parse_range(item) for item in items)
    for before, after in itertools.pairwise(ranges):
        if after.start < before.end:
            raise ValueError(f"ranges {before} and {after} overlap or are out of order")
    return ranges


DayHoursField = Annotated[tuple[TimeRange, ...], BeforeValidator(parse_day_hours)]


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError):  # zoneinfo raises these for odd names
        hint = suggest(value, sorted(available_timezones()), what="for example")
        raise ValueError(f"unknown time zone '{value}'{hint}") from None
    return value


def _dtmf(value: str) -> str:
    if not _DTMF.fullmatch(value):
        raise ValueError(f"'{value}' is not a phone key: use one of 0-9, * or #")
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]
DtmfKey = Annotated[str, AfterValidator(_dtmf)]
WEEK_KEYS = (*WEEKDAYS, "mon-fri", "sat-sun")


class WeeklyHours(ConfigModel):
    """`mon-fri` and `sat-sun` set several days; a single day written too wins over them."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", coerce_numbers_to_str=True, populate_by_name=True
    )

    mon: DayHoursField | None = None
    tue: DayHoursField | None = None
    wed: DayHoursField | None = None
    thu: DayHoursField | None = None
    fri: DayHoursField | None = None
    sat: DayHoursField | None = None
    sun: DayHoursField | None = None
    mon_fri: DayHoursField | None = Field(None, alias="mon-fri")
    sat_sun: DayHoursField | None = Field(None, alias="sat-sun")

    def by_weekday(self) -> dict[int, tuple[TimeRange, ...]]:
        out: dict[int, tuple[TimeRange, ...]] = {}
        for index, name in enumerate(WEEKDAYS):
            group = self.mon_fri if index < 5 else self.sat_sun
            own = getattr(self, name)
            chosen = own if own is not None else group
            if chosen:
                out[index] = chosen
        return out


class OverrideSpec(ConfigModel):
    date: date
    hours: DayHoursField = ()
    note: Text | None = None


class CalendarSpec(ConfigModel):
    timezone: TimeZone = "Europe/Moscow"
    holidays: Literal["RU", "none"] = "RU"
    shorten_before_holiday_min: Annotated[StrictInt, Field(ge=0, le=240)] = 0
    hours: WeeklyHours = WeeklyHours.model_validate({})
    overrides: tuple[OverrideSpec, ...] = ()


class LineSpec(ConfigModel):
    id: Slug
    numbers: Annotated[Names, Field(min_length=1)]
    branch: Slug | None = None
    language: LanguageCode = "ru"
    calendar: Slug | None = None
    routes: Slug = "main"
    area_code: Annotated[str, Field(pattern=r"^[0-9]{3,5}$")] | None = None
    # ari: the router takes the call over ARI; agi: app_queue keeps it and the router
    # decides over FastAGI (docs/agi-mode.md)
    mode: Literal["ari", "agi"] = "ari"


class ConditionSpec(ConfigModel):
    caller: Literal["known", "unknown"] | None = None
    tags_any: Slugs = ()
    tags_all: Slugs = ()
    tags_none: Slugs = ()
    has_assigned_operator: StrictBool | None = None
    language: Languages = ()
    line: Slugs = ()
    branch: Slugs = ()
    hours: Literal["open", "closed"] | None = None
    calendar: Slug | None = None
    answers: dict[str, Names] = Field(default_factory=dict)
    appointment: Literal["today", "tomorrow", "today_or_tomorrow", "none"] | None = None


class SkillsSpec(ConfigModel):
    need: Annotated[Slugs, Field(min_length=1)]
    min_level: Annotated[StrictInt, Field(ge=1, le=5)] = 1
    max_wait_s: Seconds = 120


class AssignedSpec(ConfigModel):
    wait_s: Annotated[StrictInt, Field(ge=0, le=600)] = 20
    otherwise: TargetSpec


class OperatorTargetSpec(ConfigModel):
    id: str
    wait_s: Annotated[StrictInt, Field(ge=0, le=600)] = 20
    otherwise: TargetSpec


class MessageSpec(ConfigModel):
    message: Text | None = None


TARGET_KEYS = (
    "menu",
    "routes",
    "queue",
    "skills",
    "assigned_operator",
    "operator",
    "callback",
    "voicemail",
    "hang_up",
)


class TargetSpec(ConfigModel):
    """Exactly one of the keys: where the call goes."""

    menu: Slug | None = None
    routes: Slug | None = None
    queue: Slug | None = None
    skills: SkillsSpec | None = None
    assigned_operator: AssignedSpec | None = None
    operator: OperatorTargetSpec | None = None
    callback: MessageSpec | None = None
    voicemail: MessageSpec | None = None
    hang_up: MessageSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_messages(cls, data: Any) -> Any:
        # `callback:` with nothing under it means "callback, default message".
        if isinstance(data, dict):
            for key in ("callback", "voicemail", "hang_up"):
                if key in data and data[key] is None:
                    data = {**data, key: {}}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetSpec:
        given = [k for k in TARGET_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            what = "nothing" if not given else ", ".join(given)
            raise ValueError(f"give exactly one of {', '.join(TARGET_KEYS)}; got {what}")
        return self


class RouteSpec(ConfigModel):
    name: Slug
    when: ConditionSpec | None = None
    then: TargetSpec


class OptionSpec(ConfigModel):
    key: DtmfKey
    label: Text
    prompt: Text | None = None  # played after the menu's prompt, only when the option is offered
    say_visit: bool = False  # after `prompt`: "today/tomorrow at HH:MM", the caller's next visit
    then: TargetSpec
    hide_when: ConditionSpec | None = None
    auto_when: ConditionSpec | None = None


class MenuSpec(ConfigModel):
    prompt: Text
    options: Annotated[tuple[OptionSpec, ...], Field(min_length=1)]
    timeout_s: Annotated[StrictInt, Field(ge=1, le=60)] = 5
    retries: Annotated[StrictInt, Field(ge=0, le=5)] = 2
    default: DtmfKey | None = None
    invalid_prompt: Text | None = None


class StepSpec(ConfigModel):
    after_s: Seconds
    skills: Slugs = ()
    min_level: Annotated[StrictInt, Field(ge=1, le=5)] = 1
    overflow_to: Slug | None = None


class QueueSpec(ConfigModel):
    steps: Annotated[tuple[StepSpec, ...], Field(min_length=1)]
    branches: Slugs = ()
    teams: tuple[Text, ...] = ()
    languages: Languages = ()
    priority: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    max_wait_s: Annotated[StrictInt, Field(ge=10, le=3600)] = 300
    announce_every_s: Annotated[StrictInt, Field(ge=0, le=600)] = 0
    announcement: Text | None = None
    at_max_wait: TargetSpec | None = None
    strategy: Literal["longest_idle", "fewest_calls", "best_skill"] = "longest_idle"
    wrap_up_s: Annotated[StrictInt, Field(ge=0, le=3600)] | None = None
    service_level_s: Annotated[StrictInt, Field(ge=1, le=3600)] | None = None

    @model_validator(mode="after")
    def _steps_in_order(self) -> QueueSpec:
        if self.steps[0].after_s != 0:
            raise ValueError("the first step must start at after_s: 0")
        times = [s.after_s for s in self.steps]
        if times != sorted(set(times)):
            raise ValueError(f"steps must have increasing after_s, got {times}")
        return self


class CallbackSpec(ConfigModel):
    create_on: tuple[MissReason, ...] = tuple(MissReason)
    min_abandon_s: Annotated[StrictInt, Field(ge=0, le=600)] = 5
    retry_after_min: Annotated[
        tuple[Annotated[StrictInt, Field(ge=0, le=10080)], ...], Field(min_length=1)
    ] = (0, 30, 120)
    max_attempts: Annotated[StrictInt, Field(ge=1, le=20)] = 3
    calendar: Slug | None = None
    repeat_priority_step: Annotated[StrictInt, Field(ge=0, le=100)] = 1
    dispatch_min_free_operators: Annotated[StrictInt, Field(ge=1, le=100)] = 1
    dispatch_max_inbound_wait_s: Seconds | None = None


AssignedSpec.model_rebuild()
OperatorTargetSpec.model_rebuild()
