"""Routes: an ordered list of (conditions → target); the first route whose conditions all
hold decides. Conditions are data, never code: each is one of a closed set of checks on
`CallerFacts`, and every check that fails says why in words an admin reads in `simulate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from router.domain.calendar import Calendar, is_open

CallerKind = Literal["known", "unknown"]
Hours = Literal["open", "closed"]
Appointment = Literal["today", "tomorrow", "today_or_tomorrow", "none"]


@dataclass(frozen=True, slots=True)
class CallerFacts:
    """Everything route conditions may look at, for one call at one moment."""

    now: datetime
    line: str | None = None  # line id
    branch: str | None = None
    calendar: str | None = None  # the line's calendar id
    known: bool = False
    tags: frozenset[str] = frozenset()
    assigned_operator: str | None = None
    language: str = "ru"
    answers: Mapping[str, str] = field(default_factory=dict)  # menu id -> key chosen
    appointments: tuple[date, ...] = ()

    def with_answer(self, menu: str, key: str) -> CallerFacts:
        answers = {**self.answers, menu: key}
        return CallerFacts(
            self.now,
            self.line,
            self.branch,
            self.calendar,
            self.known,
            self.tags,
            self.assigned_operator,
            self.language,
            answers,
            self.appointments,
        )


@dataclass(frozen=True, slots=True)
class Condition:
    """All the checks that are set must hold (AND). An empty Condition always holds."""

    caller: CallerKind | None = None
    tags_any: frozenset[str] = frozenset()
    tags_all: frozenset[str] = frozenset()
    tags_none: frozenset[str] = frozenset()
    has_assigned_operator: bool | None = None
    languages: frozenset[str] = frozenset()
    lines: frozenset[str] = frozenset()
    branches: frozenset[str] = frozenset()
    hours: Hours | None = None
    calendar: str | None = None  # for `hours`; the line's calendar when None
    answers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    appointment: Appointment | None = None

    @property
    def always(self) -> bool:
        return self == Condition()


# Targets: where a call goes. A closed set; the engine and simulate switch on the type.
@dataclass(frozen=True, slots=True)
class MenuTarget:
    menu: str


@dataclass(frozen=True, slots=True)
class RoutesTarget:
    """Evaluate a route list again (typically after a menu recorded an answer)."""

    routes: str


@dataclass(frozen=True, slots=True)
class QueueTarget:
    queue: str


@dataclass(frozen=True, slots=True)
class SkillsTarget:
    """Operators with these skills at `min_level` or better; a one-step queue."""

    skills: tuple[str, ...]
    min_level: int = 1
    max_wait_s: int = 120


@dataclass(frozen=True, slots=True)
class AssignedTarget:
    """The caller's assigned operator, waiting up to `wait_s` for them; then `otherwise`."""

    wait_s: int
    otherwise: Target


@dataclass(frozen=True, slots=True)
class OperatorTarget:
    """One named operator (a duty doctor, a direct line), waiting up to `wait_s`."""

    operator: str
    wait_s: int
    otherwise: Target


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """Promise a call back (creates a callback task); `voicemail` records a message first."""

    message: str | None = None
    voicemail: bool = False


@dataclass(frozen=True, slots=True)
class HangUpTarget:
    message: str | None = None


Target = (
    MenuTarget
    | RoutesTarget
    | QueueTarget
    | SkillsTarget
    | AssignedTarget
    | OperatorTarget
    | CallbackTarget
    | HangUpTarget
)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    when: Condition
    then: Target


@dataclass(frozen=True, slots=True)
class Skipped:
    route: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The route that matched (None: none did) and why each earlier one did not."""

    route: Route | None
    index: int | None
    skipped: tuple[Skipped, ...]


def why_not(
    condition: Condition, facts: CallerFacts, calendars: Mapping[str, Calendar]
) -> tuple[str, ...]:
    """The checks of `condition` that fail for `facts`; empty when it holds."""
    reasons = []
    if condition.caller is not None:
        actual = "known" if facts.known else "unknown"
        if actual != condition.caller:
            reasons.append(f"caller is {actual}, not {condition.caller}")
    reasons.extend(_tag_reasons(condition, facts.tags))
    if condition.has_assigned_operator is not None:
        has = facts.assigned_operator is not None
        if has != condition.has_assigned_operator:
            reasons.append("caller has an assigned operator" if has else "no assigned operator")
    if condition.languages and facts.language not in condition.languages:
        reasons.append(f"language is {facts.language}, not {_list(condition.languages)}")
    if condition.lines and facts.line not in condition.lines:
        reasons.append(f"line is {facts.line}, not {_list(condition.lines)}")
    if condition.branches and facts.branch not in condition.branches:
        reasons.append(f"branch is {facts.branch}, not {_list(condition.branches)}")
    if condition.hours is not None:
        reasons.extend(_hours_reason(condition, facts, calendars))
    for menu, keys in condition.answers.items():
        got = facts.answers.get(menu)
        if got not in keys:
            said = f"pressed {got}" if got is not None else "no answer"
            reasons.append(f"menu {menu}: {said}, not {_list(keys)}")
    if condition.appointment is not None:
        reasons.extend(_appointment_reason(condition.appointment, facts))
    return tuple(reasons)


def _tag_reasons(condition: Condition, tags: frozenset[str]) -> list[str]:
    reasons = []
    if condition.tags_any and not condition.tags_any & tags:
        reasons.append(f"no tag among {_list(condition.tags_any)}")
    missing = condition.tags_all - tags
    if missing:
        reasons.append(f"missing tag(s) {_list(missing)}")
    present = condition.tags_none & tags
    if present:
        reasons.append(f"has tag(s) {_list(present)}")
    return reasons


def _hours_reason(
    condition: Condition, facts: CallerFacts, calendars: Mapping[str, Calendar]
) -> list[str]:
    name = condition.calendar or facts.calendar
    calendar = calendars.get(name) if name else None
    if calendar is None:
        # No calendar for this line: treat it as always open (a 24/7 line).
        is_open_now, explained = True, "no calendar: always open"
    else:
        state = is_open(calendar, facts.now)
        is_open_now, explained = state.open, f"{name} {state.explain()}"
    wanted = condition.hours == "open"
    return [] if is_open_now == wanted else [explained]


def _appointment_reason(wanted: Appointment, facts: CallerFacts) -> list[str]:
    today = facts.now.date()
    days = {(d - today).days for d in facts.appointments}
    ok = {
        "today": 0 in days,
        "tomorrow": 1 in days,
        "today_or_tomorrow": bool(days & {0, 1}),
        "none": not days & {0, 1},
    }[wanted]
    if ok:
        return []
    if not facts.appointments:
        return [f"no appointment known (wanted {wanted.replace('_', ' ')})"]
    shown = ", ".join(str(d) for d in sorted(facts.appointments))
    return [f"appointment(s) {shown}, not {wanted.replace('_', ' ')}"]


def evaluate_routes(
    routes: Sequence[Route], facts: CallerFacts, calendars: Mapping[str, Calendar]
) -> RouteDecision:
    """The first route whose conditions hold, and the reasons the earlier ones did not."""
    skipped: list[Skipped] = []
    for index, route in enumerate(routes):
        reasons = why_not(route.when, facts, calendars)
        if not reasons:
            return RouteDecision(route, index, tuple(skipped))
        skipped.append(Skipped(route.name, reasons))
    return RouteDecision(None, None, tuple(skipped))


def _list(values: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(values))
