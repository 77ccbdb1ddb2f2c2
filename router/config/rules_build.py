"""Validated specs -> the pure core's frozen values (`router.domain`).

The domain types know nothing of pydantic, so the engine, `simulate` and the tests share
them; this module is the one place that translates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from router.config.rules_schema import (
    CalendarSpec,
    CallbackSpec,
    ConditionSpec,
    LineSpec,
    MenuSpec,
    QueueSpec,
    RouteSpec,
    TargetSpec,
)
from router.domain.calendar import Calendar, DayOverride
from router.domain.callback_policy import CallbackPolicy
from router.domain.menus import Menu, MenuOption
from router.domain.phone import normalise_did
from router.domain.queue_steps import Queue, QueueStep
from router.domain.routing import (
    AssignedTarget,
    CallbackTarget,
    Condition,
    HangUpTarget,
    MenuTarget,
    OperatorTarget,
    QueueTarget,
    Route,
    RoutesTarget,
    SkillsTarget,
    Target,
)


@dataclass(frozen=True, slots=True)
class Line:
    """A dialled number (or several spellings of it) and how its calls start."""

    id: str
    numbers: tuple[str, ...]  # as normalise_did() reduces them
    branch: str | None
    language: str
    calendar: str | None
    routes: str
    area_code: str | None
    mode: str = "ari"  # ari | agi (docs/agi-mode.md)


def build_line(spec: LineSpec) -> Line:
    numbers = tuple(dict.fromkeys(normalise_did(n) for n in spec.numbers))
    return Line(
        spec.id,
        numbers,
        spec.branch,
        spec.language,
        spec.calendar,
        spec.routes,
        spec.area_code,
        spec.mode,
    )


def build_calendar(name: str, spec: CalendarSpec) -> Calendar:
    overrides = {o.date: DayOverride(o.date, o.hours, o.note) for o in spec.overrides}
    return Calendar(
        id=name,
        timezone=spec.timezone,
        weekly=MappingProxyType(spec.hours.by_weekday()),
        country=None if spec.holidays == "none" else spec.holidays,
        overrides=MappingProxyType(overrides),
        shorten_before_holiday_min=spec.shorten_before_holiday_min,
    )


def build_condition(spec: ConditionSpec | None) -> Condition:
    if spec is None:
        return Condition()
    return Condition(
        caller=spec.caller,
        tags_any=frozenset(spec.tags_any),
        tags_all=frozenset(spec.tags_all),
        tags_none=frozenset(spec.tags_none),
        has_assigned_operator=spec.has_assigned_operator,
        languages=frozenset(spec.language),
        lines=frozenset(spec.line),
        branches=frozenset(spec.branch),
        hours=spec.hours,
        calendar=spec.calendar,
        answers=MappingProxyType({k: frozenset(v) for k, v in spec.answers.items()}),
        appointment=spec.appointment,
    )


def build_target(spec: TargetSpec) -> Target:
    if spec.menu is not None:
        return MenuTarget(spec.menu)
    if spec.routes is not None:
        return RoutesTarget(spec.routes)
    if spec.queue is not None:
        return QueueTarget(spec.queue)
    if spec.skills is not None:
        s = spec.skills
        return SkillsTarget(tuple(s.need), s.min_level, s.max_wait_s)
    if spec.assigned_operator is not None:
        a = spec.assigned_operator
        return AssignedTarget(a.wait_s, build_target(a.otherwise))
    if spec.operator is not None:
        o = spec.operator
        return OperatorTarget(o.id, o.wait_s, build_target(o.otherwise))
    if spec.callback is not None:
        return CallbackTarget(spec.callback.message)
    if spec.voicemail is not None:
        return CallbackTarget(spec.voicemail.message, voicemail=True)
    assert spec.hang_up is not None  # TargetSpec validates exactly one key
    return HangUpTarget(spec.hang_up.message)


def build_routes(spec: Mapping[str, tuple[RouteSpec, ...]]) -> Mapping[str, tuple[Route, ...]]:
    return MappingProxyType(
        {
            name: tuple(Route(r.name, build_condition(r.when), build_target(r.then)) for r in lst)
            for name, lst in spec.items()
        }
    )


def build_menu(name: str, spec: MenuSpec) -> Menu:
    options = tuple(
        MenuOption(
            key=o.key,
            label=o.label,
            then=build_target(o.then),
            prompt=o.prompt,
            say_visit=o.say_visit,
            hide_when=build_condition(o.hide_when) if o.hide_when else None,
            auto_when=build_condition(o.auto_when) if o.auto_when else None,
        )
        for o in spec.options
    )
    return Menu(
        name, spec.prompt, options, spec.timeout_s, spec.retries, spec.default, spec.invalid_prompt
    )


def build_queue(name: str, spec: QueueSpec) -> Queue:
    steps = tuple(
        QueueStep(s.after_s, tuple(s.skills), s.min_level, s.overflow_to) for s in spec.steps
    )
    return Queue(
        id=name,
        steps=steps,
        branches=frozenset(spec.branches),
        teams=frozenset(spec.teams),
        languages=frozenset(spec.languages),
        priority=spec.priority,
        max_wait_s=spec.max_wait_s,
        announce_every_s=spec.announce_every_s,
        announcement=spec.announcement,
        at_max_wait=build_target(spec.at_max_wait) if spec.at_max_wait else None,
        strategy=spec.strategy,
        wrap_up_s=spec.wrap_up_s,
        service_level_s=spec.service_level_s,
    )


def build_callback(spec: CallbackSpec | None) -> CallbackPolicy:
    if spec is None:
        return CallbackPolicy()
    return CallbackPolicy(
        create_on=frozenset(spec.create_on),
        min_abandon_s=spec.min_abandon_s,
        retry_after_min=spec.retry_after_min,
        max_attempts=spec.max_attempts,
        calendar=spec.calendar,
        repeat_priority_step=spec.repeat_priority_step,
        dispatch_min_free_operators=spec.dispatch_min_free_operators,
        dispatch_max_inbound_wait_s=spec.dispatch_max_inbound_wait_s,
    )
