"""Cross-checks of the routing sections: every name used is defined, nothing is dead.

Like the operator checks in `rules.py`, these read the raw data leniently (a section with
a schema error elsewhere is still checked), so one `check` shows every problem. Only the
"could anyone ever take this queue" check needs typed values: it validates the queue and
the operators one by one and skips those that failed the schema pass (already reported).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from router.config.errors import ConfigIssue, KeyPath, suggest
from router.config.rules_build import build_queue
from router.config.rules_schema import QueueSpec
from router.config.yamlsafe import YamlDocument
from router.domain.operators import Operator
from router.domain.phone import normalise_did
from router.domain.queue_steps import Queue, QueueStep, eligible_operators


@dataclass
class _Names:
    """What is defined, read leniently: the targets of every reference."""

    skills: list[str]
    calendars: list[str]
    menus: list[str]
    queues: list[str]
    routes: list[str]
    lines: list[str]
    branches: list[str]
    teams: list[str]
    operators: list[str]
    menu_keys: dict[str, list[str]] = field(default_factory=dict)


def _map(data: Any, key: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _list(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, list) else []


def _texts(value: Any) -> list[tuple[int | None, str]]:
    """A one-or-many field as (index or None, text) pairs."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [(None, str(value))]
    if isinstance(value, list):
        return [(i, str(v)) for i, v in enumerate(value) if isinstance(v, str | int)]
    return []


def _names(data: Any, operators: Sequence[Operator]) -> _Names:
    lines = [x for x in _list(data, "lines") if isinstance(x, Mapping)]
    branches = {op.branch for op in operators if op.branch}
    branches |= {str(x["branch"]) for x in lines if isinstance(x.get("branch"), str)}
    names = _Names(
        skills=list(_map(data, "skills")),
        calendars=list(_map(data, "calendars")),
        menus=list(_map(data, "menus")),
        queues=list(_map(data, "queues")),
        routes=list(_map(data, "routes")),
        lines=[str(x["id"]) for x in lines if isinstance(x.get("id"), str)],
        branches=sorted(branches),
        teams=sorted({op.team for op in operators if op.team}),
        operators=[str(x.get("id")) for x in _list(data, "operators") if isinstance(x, Mapping)],
    )
    for menu, spec in _map(data, "menus").items():
        keys = [o.get("key") for o in _list(spec, "options") if isinstance(o, Mapping)]
        names.menu_keys[menu] = [str(k) for k in keys if isinstance(k, str | int)]
    return names


class _Checker:
    def __init__(self, doc: YamlDocument, operators: Sequence[Operator]) -> None:
        self.doc = doc
        self.data = doc.data
        self.operators = operators
        self.names = _names(doc.data, operators)
        self.issues: list[ConfigIssue] = []

    def add(self, path: KeyPath, message: str, at: Any = "auto") -> None:
        self.issues.append(self.doc.issue(path, message, at=at))

    def ref(self, path: KeyPath, name: Any, known: list[str], what: str) -> None:
        if not isinstance(name, str | int) or isinstance(name, bool) or str(name) in known:
            return
        if not known:
            self.add(path, f"unknown {what} '{name}' (no {what}s are defined)")
            return
        plural = f"{what}es" if what.endswith("ch") else f"{what}s"
        hint = suggest(str(name), known, what=f"known {plural}")
        self.add(path, f"unknown {what} '{name}'{hint}")

    def line_of(self, path: KeyPath) -> str:
        mark = self.doc.positions.value(path)
        return f" (line {mark.line})" if mark else ""

    def first_defined(self, path: KeyPath) -> str:
        mark = self.doc.positions.value(path)
        return f" (first defined at line {mark.line})" if mark else ""

    def run(self) -> list[ConfigIssue]:
        self.check_lines()
        for name, routes in _map(self.data, "routes").items():
            self.check_route_list(name, routes)
        for name, menu in _map(self.data, "menus").items():
            self.check_menu(name, menu)
        for name, queue in _map(self.data, "queues").items():
            self.check_queue(name, queue)
        callback = _map(self.data, "callback")
        if "calendar" in callback:
            self.ref(
                ("callback", "calendar"), callback["calendar"], self.names.calendars, "calendar"
            )
        return self.issues

    def check_lines(self) -> None:
        seen_ids: dict[str, int] = {}
        seen_numbers: dict[str, tuple[KeyPath, str]] = {}
        for i, line in enumerate(_list(self.data, "lines")):
            if not isinstance(line, Mapping):
                continue
            here: KeyPath = ("lines", i)
            line_id = line.get("id")
            if isinstance(line_id, str):
                if line_id in seen_ids:
                    first = self.first_defined(("lines", seen_ids[line_id], "id"))
                    self.add((*here, "id"), f"duplicate line id '{line_id}'{first}", "value")
                seen_ids.setdefault(line_id, i)
            for j, number in _texts(line.get("numbers")):
                path = (*here, "numbers") if j is None else (*here, "numbers", j)
                did = normalise_did(number)
                if did in seen_numbers:
                    other_path, other_line = seen_numbers[did]
                    msg = f"number '{number}' is already used by line '{other_line}'"
                    self.add(path, msg + self.line_of(other_path), "value")
                seen_numbers.setdefault(did, (path, str(line_id)))
            if "calendar" in line:
                self.ref((*here, "calendar"), line["calendar"], self.names.calendars, "calendar")
            self.ref((*here, "routes"), line.get("routes", "main"), self.names.routes, "route list")

    def check_route_list(self, name: str, routes: Any) -> None:
        if not isinstance(routes, list):
            return
        catch_all: tuple[str, int] | None = None
        seen: dict[str, int] = {}
        for i, route in enumerate(routes):
            if not isinstance(route, Mapping):
                continue
            here: KeyPath = ("routes", name, i)
            route_name = str(route.get("name", f"#{i + 1}"))
            if route_name in seen:
                first = self.first_defined(("routes", name, seen[route_name], "name"))
                self.add((*here, "name"), f"duplicate route name '{route_name}'{first}", "value")
            seen.setdefault(route_name, i)
            if catch_all is not None:
                other, index = catch_all
                where = self.line_of(("routes", name, index, "name"))
                self.add(
                    here,
                    f"route '{route_name}' can never match: route '{other}'{where}"
                    " above it has no conditions and takes every call",
                    "key",
                )
            when = route.get("when")
            if when is None or when == {}:
                catch_all = catch_all or (route_name, i)
            self.check_condition((*here, "when"), when)
            self.check_target((*here, "then"), route.get("then"))

    def check_condition(self, path: KeyPath, cond: Any) -> None:
        if not isinstance(cond, Mapping):
            return
        for key, known, what in (
            ("line", self.names.lines, "line"),
            ("branch", self.names.branches, "branch"),
        ):
            for j, value in _texts(cond.get(key)):
                self.ref((*path, key) if j is None else (*path, key, j), value, known, what)
        if "calendar" in cond:
            self.ref((*path, "calendar"), cond["calendar"], self.names.calendars, "calendar")
        for menu, keys in _map(cond, "answers").items():
            if menu not in self.names.menus:
                self.ref((*path, "answers", menu), menu, self.names.menus, "menu")
                continue
            offered = self.names.menu_keys.get(menu, [])
            for j, key in _texts(keys):
                if key not in offered:
                    at = (*path, "answers", menu) if j is None else (*path, "answers", menu, j)
                    self.add(
                        at,
                        f"menu '{menu}' has no option '{key}' (its keys:"
                        f" {', '.join(offered) or 'none'})",
                    )

    def check_target(self, path: KeyPath, target: Any) -> None:
        if not isinstance(target, Mapping):
            return
        for key, known, what in (
            ("menu", self.names.menus, "menu"),
            ("queue", self.names.queues, "queue"),
            ("routes", self.names.routes, "route list"),
        ):
            if key in target:
                self.ref((*path, key), target[key], known, what)
        skills = _map(target, "skills")
        needed = [v for _, v in _texts(skills.get("need"))]
        for j, skill in _texts(skills.get("need")):
            at = (*path, "skills", "need") if j is None else (*path, "skills", "need", j)
            self.ref(at, skill, self.names.skills, "skill")
        level = skills.get("min_level", 1)
        all_known = bool(needed) and all(s in self.names.skills for s in needed)
        if (
            all_known
            and isinstance(level, int)
            and self.operators
            and not any(all(op.skills.get(s, 0) >= level for s in needed) for op in self.operators)
        ):
            msg = f"no operator has {', '.join(needed)} at level {level} or more"
            self.add((*path, "skills"), msg + ": these calls could never be answered")
        named = _map(target, "operator")
        if "id" in named:
            self.ref((*path, "operator", "id"), named["id"], self.names.operators, "operator")
        for key in ("assigned_operator", "operator"):
            if "otherwise" in _map(target, key):
                self.check_target((*path, key, "otherwise"), _map(target, key)["otherwise"])

    def check_menu(self, name: str, menu: Any) -> None:
        if not isinstance(menu, Mapping):
            return
        first: dict[str, int] = {}
        for i, option in enumerate(_list(menu, "options")):
            if not isinstance(option, Mapping):
                continue
            here: KeyPath = ("menus", name, "options", i)
            key = option.get("key")
            if isinstance(key, str | int) and not isinstance(key, bool):
                if str(key) in first:
                    mark = self.doc.positions.value(("menus", name, "options", first[str(key)]))
                    where = f" (first at line {mark.line})" if mark else ""
                    msg = f"key {key} is used twice in menu '{name}'{where}"
                    self.add((*here, "key"), msg, "value")
                first.setdefault(str(key), i)
            self.check_target((*here, "then"), option.get("then"))
            self.check_condition((*here, "hide_when"), option.get("hide_when"))
            self.check_condition((*here, "auto_when"), option.get("auto_when"))
        default = menu.get("default")
        if isinstance(default, str | int) and str(default) not in first:
            known = ", ".join(first) or "none"
            self.add(("menus", name, "default"), f"no option with key {default} (keys: {known})")

    def check_queue(self, name: str, queue: Any) -> None:
        if not isinstance(queue, Mapping):
            return
        for i, step in enumerate(_list(queue, "steps")):
            if not isinstance(step, Mapping):
                continue
            here: KeyPath = ("queues", name, "steps", i)
            for j, skill in _texts(step.get("skills")):
                at = (*here, "skills") if j is None else (*here, "skills", j)
                self.ref(at, skill, self.names.skills, "skill")
            if "overflow_to" in step:
                overflow = step["overflow_to"]
                if overflow == name:
                    self.add((*here, "overflow_to"), "a queue cannot overflow to itself")
                else:
                    self.ref((*here, "overflow_to"), overflow, self.names.queues, "queue")
        for j, branch in _texts(queue.get("branches")):
            at = ("queues", name, "branches") if j is None else ("queues", name, "branches", j)
            self.ref(at, branch, self.names.branches, "branch")
        for j, team in _texts(queue.get("teams")):
            at = ("queues", name, "teams") if j is None else ("queues", name, "teams", j)
            self.ref(at, team, self.names.teams, "team")
        self.check_target(("queues", name, "at_max_wait"), queue.get("at_max_wait"))
        self.check_reachable(name)

    def check_reachable(self, name: str) -> None:
        queues = _typed_queues(self.data)
        queue = queues.get(name)
        if queue is None or not self.operators:
            return  # no operators at all is reported once, at `operators`
        # A caller leaves at max_wait_s: steps after it never admit anyone.
        last = max((s for s in queue.steps if s.after_s <= queue.max_wait_s), key=_after)
        if eligible_operators(queue, last.after_s, self.operators, queues):
            return
        need = ", ".join(last.skills) or "no skills"
        pool = f" in branch(es) {', '.join(sorted(queue.branches))}" if queue.branches else ""
        msg = f"no operator{pool} could ever take this queue: even its last step"
        if last is not queue.steps[-1]:
            msg += f" before max_wait_s {queue.max_wait_s}"
        self.add(("queues", name), f"{msg} needs {need} at level {last.min_level} or more", "key")


def _after(step: QueueStep) -> int:
    return step.after_s


def _typed_queues(data: Any) -> dict[str, Queue]:
    out = {}
    for name, raw in _map(data, "queues").items():
        try:
            out[name] = build_queue(name, QueueSpec.model_validate(raw))
        except ValidationError:
            continue  # reported by the schema pass
    return out


def routing_cross_check(doc: YamlDocument, operators: Sequence[Operator]) -> list[ConfigIssue]:
    """Reference, uniqueness and reachability problems of the routing sections."""
    return _Checker(doc, operators).run()
