"""`config/rules.yaml`: who answers which calls: the skills catalogue and the operators
(here), and the routing sections (lines, calendars, routes, menus, queues, callback;
schema in `rules_schema.py`, references in `rules_crosscheck.py`). See docs/rules.md.

Validation happens in two passes that both always run, so one `check` shows everything:
the schema (types, ranges, unknown keys) and the cross-checks (unique ids and endpoints,
skills that exist in the catalogue), which read the raw data leniently and so still run
when the schema pass failed somewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import Field, StrictInt, ValidationError, ValidationInfo, field_validator

from router.config.errors import ConfigError, ConfigIssue, suggest
from router.config.fields import (
    ConfigModel,
    Endpoint,
    LanguageCode,
    OperatorId,
    Section,
    SkillLevel,
    Slug,
    Text,
)
from router.config.rules_build import (
    Line,
    build_calendar,
    build_callback,
    build_line,
    build_menu,
    build_queue,
    build_routes,
)
from router.config.rules_crosscheck import routing_cross_check
from router.config.rules_flow import flow_check
from router.config.rules_schema import (
    CalendarSpec,
    CallbackSpec,
    LineSpec,
    MenuSpec,
    QueueSpec,
    RouteSpec,
)
from router.config.validation import validate_document
from router.config.yamlsafe import YamlDocument, load_yaml
from router.domain.calendar import Calendar
from router.domain.callback_policy import CallbackPolicy
from router.domain.journey import RoutingWorld
from router.domain.menus import Menu
from router.domain.operators import Operator
from router.domain.phone import normalise_did
from router.domain.queue_steps import Queue
from router.domain.routing import Route

RULES_FORMAT = 1
FUTURE_SECTIONS: tuple[str, ...] = ()


class About(Section):
    """Free description of this rule set, for the people who edit it."""

    name: Text | None = None
    notes: Annotated[str, Field(max_length=4000)] | None = None


class OperatorSpec(ConfigModel):
    """One operator as written in the rules file."""

    id: OperatorId
    name: Text
    endpoint: Endpoint
    team: Text | None = None
    branch: Slug | None = None
    # Keys are checked against the catalogue (with "did you mean"), not by pattern here.
    skills: dict[str, SkillLevel] = Field(default_factory=dict)
    languages: Annotated[tuple[LanguageCode, ...], Field(min_length=1)] = ("ru",)
    wrap_up_s: Annotated[StrictInt, Field(ge=0, le=3600)] | None = None

    @field_validator("skills", mode="before")
    @classmethod
    def _no_skills(cls, value: Any) -> Any:
        return {} if value is None else value


class RulesFile(ConfigModel):
    """The whole of `rules.yaml` (the schema pass)."""

    future_keys: ClassVar[Mapping[str, str]] = {
        name: f"the '{name}' section is not supported by this version of clinic-router yet"
        for name in FUTURE_SECTIONS
    }

    format: StrictInt = RULES_FORMAT
    about: About | None = None
    skills: dict[Slug, Text] = Field(default_factory=dict)
    operators: tuple[OperatorSpec, ...] = ()
    lines: tuple[LineSpec, ...] = ()
    calendars: dict[Slug, CalendarSpec] = Field(default_factory=dict)
    routes: dict[Slug, tuple[RouteSpec, ...]] = Field(default_factory=dict)
    menus: dict[Slug, MenuSpec] = Field(default_factory=dict)
    queues: dict[Slug, QueueSpec] = Field(default_factory=dict)
    callback: CallbackSpec | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value != RULES_FORMAT:
            raise ValueError(
                f"this version of clinic-router reads rules format {RULES_FORMAT}, not {value}"
            )
        return value

    @field_validator(
        "skills", "operators", "lines", "calendars", "routes", "menus", "queues", mode="before"
    )
    @classmethod
    def _empty_section(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return () if info.field_name in ("operators", "lines") else {}
        return value


@dataclass(frozen=True, slots=True)
class Rules:
    """A validated, immutable rule set. `version` identifies it in journeys and the API."""

    version: str  # first 12 hex digits of the file's sha256
    loaded_from: Path
    name: str | None
    skills: Mapping[str, str]  # skill id -> display name, in file order
    operators: tuple[Operator, ...]
    # The routing sections; all optional, so a file with only skills and operators is valid.
    lines: tuple[Line, ...] = ()
    calendars: Mapping[str, Calendar] = field(default_factory=dict)
    routes: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)
    menus: Mapping[str, Menu] = field(default_factory=dict)
    queues: Mapping[str, Queue] = field(default_factory=dict)
    callback: CallbackPolicy = field(default_factory=CallbackPolicy)
    # What `check` warns about but accepts (a line that only plays a message, an unused
    # menu): printed by `check`, logged by a reload, listed by `GET /api/rules`.
    warnings: tuple[ConfigIssue, ...] = ()

    def operator(self, operator_id: str) -> Operator | None:
        return next((o for o in self.operators if o.id == operator_id), None)

    def line(self, line_id: str | None) -> Line | None:
        return next((li for li in self.lines if li.id == line_id), None)

    def world(self) -> RoutingWorld:
        """The routing sections as the pure core's `RoutingWorld` (for `plan_journey`)."""
        return RoutingWorld(
            self.routes, self.menus, self.queues, self.calendars, self.operators, self.callback
        )

    def line_for(self, did: str) -> Line | None:
        """The line a dialled number belongs to (compared as `normalise_did` reduces it)."""
        number = normalise_did(did)
        return next((line for line in self.lines if number in line.numbers), None)


def load_rules(path: str | Path, *, source: str | None = None) -> Rules:
    """Read and validate a rules file. Raises ConfigError with every problem found."""
    doc = load_yaml(path, source=source)
    return rules_from_document(doc, loaded_from=Path(path).resolve())


def rules_from_document(doc: YamlDocument, *, loaded_from: Path) -> Rules:
    spec, issues = validate_document(RulesFile, doc)
    issues.extend(cross_check(doc))
    issues.extend(routing_cross_check(doc, _valid_operators(doc.data)))
    if issues or spec is None:
        raise ConfigError(issues)
    rules = Rules(
        version=doc.sha256[:12],
        loaded_from=loaded_from,
        name=spec.about.name if spec.about else None,
        skills=MappingProxyType(dict(spec.skills)),
        operators=tuple(_operator(o) for o in spec.operators),
        lines=tuple(build_line(line) for line in spec.lines),
        calendars=MappingProxyType({k: build_calendar(k, v) for k, v in spec.calendars.items()}),
        routes=build_routes(spec.routes),
        menus=MappingProxyType({k: build_menu(k, v) for k, v in spec.menus.items()}),
        queues=MappingProxyType({k: build_queue(k, v) for k, v in spec.queues.items()}),
        callback=build_callback(spec.callback),
    )
    # Loops and strandings are judged on the built rules: every reference now resolves.
    lines = [(("lines", i, "routes"), line.routes) for i, line in enumerate(rules.lines)]
    flow = flow_check(doc, lines, rules.routes, rules.menus, rules.queues, rules.operators)
    if flow.errors:
        raise ConfigError(flow.errors)
    return replace(rules, warnings=tuple(sorted(flow.warnings, key=ConfigIssue.sort_key)))


def _valid_operators(data: Any) -> list[Operator]:
    """The operators that pass the schema, one by one (the others are already reported)."""
    raw = data.get("operators") if isinstance(data, Mapping) else None
    valid = []
    for item in raw if isinstance(raw, list) else []:
        try:
            valid.append(_operator(OperatorSpec.model_validate(item)))
        except ValidationError:
            continue
    return valid


def _operator(spec: OperatorSpec) -> Operator:
    return Operator(
        id=spec.id,
        name=spec.name,
        endpoint=spec.endpoint,
        team=spec.team,
        branch=spec.branch,
        skills=MappingProxyType(dict(spec.skills)),
        languages=spec.languages,
        wrap_up_s=spec.wrap_up_s,
    )


@dataclass(frozen=True, slots=True)
class _OperatorRefs:
    """What the cross-checks need of one operator, read leniently from the raw data."""

    index: int
    id: str | None
    endpoint: str | None
    skills: tuple[str, ...]
    languages: tuple[str, ...]


def _text_or_none(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    return str(value) if isinstance(value, str | int) else None


def _operator_refs(data: Any) -> list[_OperatorRefs]:
    raw = data.get("operators") if isinstance(data, Mapping) else None
    refs = []
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(item, Mapping):
            continue
        skills = item.get("skills")
        languages = item.get("languages")
        refs.append(
            _OperatorRefs(
                index=index,
                id=_text_or_none(item.get("id")),
                endpoint=_text_or_none(item.get("endpoint")),
                skills=tuple(skills) if isinstance(skills, Mapping) else (),
                languages=tuple(_strings(languages)),
            )
        )
    return refs


def _strings(value: Any) -> list[str]:
    return [x for x in value if isinstance(x, str)] if isinstance(value, list) else []


def _catalogue(data: Any) -> list[str] | None:
    """Skill ids of the catalogue; None when the section is not a mapping (already reported)."""
    raw = data.get("skills") if isinstance(data, Mapping) else None
    if raw is None:
        return []
    return list(raw) if isinstance(raw, Mapping) else None


def cross_check(doc: YamlDocument) -> list[ConfigIssue]:
    """References and uniqueness, on the raw data so that they run even when some
    operators failed the schema pass: one `check` shows every problem."""
    catalogue = _catalogue(doc.data)
    issues: list[ConfigIssue] = _no_operators(doc)
    first_id: dict[str, int] = {}
    first_endpoint: dict[str, tuple[int, str | None]] = {}
    for op in _operator_refs(doc.data):
        here = ("operators", op.index)
        if op.id is not None and op.id in first_id:
            line = _line(doc, ("operators", first_id[op.id], "id"))
            msg = f"duplicate operator id '{op.id}'{line}"
            issues.append(doc.issue((*here, "id"), msg, at="value"))
        if op.id is not None:
            first_id.setdefault(op.id, op.index)
        if op.endpoint is not None and "/" in op.endpoint:
            # Asterisk matches channel technologies case-insensitively: PJSIP/x == pjsip/x.
            tech, _, resource = op.endpoint.partition("/")
            endpoint = f"{tech.upper()}/{resource}"
            if endpoint in first_endpoint:
                other, other_id = first_endpoint[endpoint]
                line = _line(doc, ("operators", other, "endpoint"))
                msg = f"endpoint '{op.endpoint}' is already used by operator '{other_id}'{line}"
                issues.append(doc.issue((*here, "endpoint"), msg, at="value"))
            first_endpoint.setdefault(endpoint, (op.index, op.id))
        if catalogue is not None:
            issues.extend(_unknown_skills(doc, here, op.skills, catalogue))
        issues.extend(_repeated_languages(doc, here, op.languages))
    return issues


def _no_operators(doc: YamlDocument) -> list[ConfigIssue]:
    """No operator at all: every call would ring nobody (the queues, the managers and the
    last resort all choose among the operators), so no caller could ever be answered."""
    if not isinstance(doc.data, Mapping) or doc.data.get("operators") not in (None, []):
        return []
    msg = (
        "no operators: no call could ever be answered (list at least one, like"
        " '- {id: op1001, name: Anna, endpoint: PJSIP/op1001}')"
    )
    return [doc.issue(("operators",), msg, at="key")]


def _unknown_skills(
    doc: YamlDocument, here: tuple[str, int], skills: Sequence[str], catalogue: Sequence[str]
) -> list[ConfigIssue]:
    issues = []
    for skill in skills:
        if skill in catalogue:
            continue
        hint = suggest(skill, catalogue, what="known skills")
        if not catalogue:
            hint = " (the skills catalogue is empty: list the skills under 'skills:')"
        path = (*here, "skills", skill)
        issues.append(doc.issue(path, f"unknown skill '{skill}'{hint}", at="key"))
    return issues


def _repeated_languages(
    doc: YamlDocument, here: tuple[str, int], languages: Sequence[str]
) -> list[ConfigIssue]:
    seen: set[str] = set()
    issues = []
    for i, language in enumerate(languages):
        if language in seen:
            path = (*here, "languages", i)
            issues.append(doc.issue(path, f"language '{language}' is listed twice"))
        seen.add(language)
    return issues


def _line(doc: YamlDocument, path: tuple[str | int, ...]) -> str:
    mark = doc.positions.value(path)
    return f" (first defined at line {mark.line})" if mark else ""
