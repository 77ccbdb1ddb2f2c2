"""Where a waiting caller picks up again after a router restart.

A call's journey records, each time the caller starts waiting for someone, what they
wait for and since when (`WaitRecord`, in the `waiting` event). A restarted router reads
the last such record of each call it adopts and resumes that wait: the same queue (or
skills, or named operator), the same place in line (the time they first started
waiting), the steps already relaxed and only the budget left. The rules may have been
reloaded meanwhile, so the record is checked against the current ones (`resume_point`):
what no longer exists falls back to its `otherwise`, or to the line's routes walked
again, and says why.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from router.domain.routing import (
    AssignedTarget,
    CallbackTarget,
    HangUpTarget,
    MenuTarget,
    OperatorTarget,
    QueueTarget,
    RoutesTarget,
    SkillsTarget,
    Target,
)

WAITING_EVENT = "waiting"  # the journey event that carries a `WaitRecord`
KEEP_PLACE_EVENT = "keep_place"  # the caller left the wait to be called back
KEEP_PLACE_MISS = "keep_place"  # the ledger's reason for their miss (it holds their place)
RESUME_EVENTS = frozenset({WAITING_EVENT, KEEP_PLACE_EVENT})  # live state, not detail


@dataclass(frozen=True, slots=True)
class WaitRecord:
    """What a caller waits for, as the journey's `waiting` event records it."""

    target: Target
    waiting_since: datetime  # their place in line: when they first started waiting
    step_since: datetime  # when this wait began: its budget and relaxed steps count from here
    priority: int = 0
    menu_path: tuple[str, ...] = ()  # "menu:key" answers given before the wait
    kept_place: bool = False  # they asked to be called back: the wait is over

    def to_json(self) -> dict[str, Any]:
        return {
            "target": target_to_json(self.target),
            "since": self.waiting_since.isoformat(),
            "step_since": self.step_since.isoformat(),
            "priority": self.priority,
            "menus": list(self.menu_path),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> WaitRecord | None:
        """The record of a `waiting` event; None when it has none (an older journey) or
        it cannot be read (it is never trusted further than that)."""
        try:
            target = target_from_json(data["target"])
            since = datetime.fromisoformat(str(data["since"]))
            step_since = datetime.fromisoformat(str(data["step_since"]))
            priority = int(data.get("priority", 0))
            menus = tuple(str(m) for m in data.get("menus", ()))
        except (KeyError, TypeError, ValueError):
            return None
        if since.tzinfo is None or step_since.tzinfo is None:
            return None
        return WaitRecord(target, since, step_since, priority, menus)


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where an adopted caller goes on. `target` None: walk the line's routes again."""

    target: Target | None
    waited_s: float = 0.0  # already waited for `target`: relaxed steps and budget used
    place_s: float | None = None  # since they first started waiting (None: not yet)
    answers: Mapping[str, str] = field(default_factory=dict)  # menu id -> key
    menu_path: tuple[str, ...] = ()
    kept_place: bool = False
    why: str = ""  # for the journey


@dataclass(frozen=True, slots=True)
class RulesView:
    """What of the current rules a resumed wait depends on: the ids it may name."""

    queues: Collection[str]
    menus: Collection[str]
    routes: Collection[str]


def resume_point(record: WaitRecord | None, now: datetime, rules: RulesView) -> ResumePoint:
    """The resume decision for a caller found waiting after a restart (pure)."""
    if record is None:
        return ResumePoint(None, why="no wait recorded (still in the menus): routes walked again")
    answers = answers_of(record.menu_path)
    place_s = max(0.0, (now - record.waiting_since).total_seconds())
    waited_s = min(max(0.0, (now - record.step_since).total_seconds()), place_s)
    if record.kept_place:
        return ResumePoint(
            None, 0.0, place_s, answers, record.menu_path, True, "asked to be called back"
        )
    gone = _missing(record.target, rules)
    if gone is not None:
        # A different wait begins: the place in line is kept, the steps start again.
        why = f"{gone} no longer in the rules: routes walked again"
        return ResumePoint(None, 0.0, place_s, answers, record.menu_path, False, why)
    return ResumePoint(record.target, waited_s, place_s, answers, record.menu_path, False, "")


def answers_of(menu_path: Sequence[str]) -> dict[str, str]:
    """`["main:2", "lab:1"]` -> `{"main": "2", "lab": "1"}` (a later answer wins)."""
    answers: dict[str, str] = {}
    for step in menu_path:
        menu, sep, key = step.rpartition(":")
        if sep and menu:
            answers[menu] = key
    return answers


def wait_record_of(
    events: Sequence[tuple[str, Mapping[str, Any]]], *, kept_place: bool = False
) -> WaitRecord | None:
    """The caller's current wait from their journey's `waiting` and `keep_place` events
    (in journey order): the last wait, over once they asked to be called back.

    `kept_place`: the ledger holds their keep-place miss (`KEEP_PLACE_MISS`). It is
    written, and flushed, before the journey's `keep_place` event, so a router that dies
    between the two leaves only the miss: the wait is over all the same."""
    record: WaitRecord | None = None
    for kind, data in events:
        if kind == WAITING_EVENT:
            record = WaitRecord.from_json(data)
        elif kind == KEEP_PLACE_EVENT and record is not None:
            record = replace(record, kept_place=True)
    if kept_place and record is not None:
        record = replace(record, kept_place=True)
    return record


def _missing(target: Target, rules: RulesView) -> str | None:
    """What `target` (or its `otherwise`) names that the rules no longer have.

    A named operator who left is not "missing": the walk skips them to their
    `otherwise` as it does for one who is offline, and says so."""
    if isinstance(target, QueueTarget) and target.queue not in rules.queues:
        return f"queue {target.queue}"
    if isinstance(target, MenuTarget) and target.menu not in rules.menus:
        return f"menu {target.menu}"
    if isinstance(target, RoutesTarget) and target.routes not in rules.routes:
        return f"routes {target.routes}"
    if isinstance(target, AssignedTarget | OperatorTarget):
        return _missing(target.otherwise, rules)
    return None


# -- targets as JSON: a closed set, so a plain tagged object each -------------------------


def target_to_json(target: Target) -> dict[str, Any]:
    if isinstance(target, QueueTarget):
        return {"kind": "queue", "queue": target.queue}
    if isinstance(target, SkillsTarget):
        return {
            "kind": "skills",
            "skills": list(target.skills),
            "min_level": target.min_level,
            "max_wait_s": target.max_wait_s,
        }
    if isinstance(target, AssignedTarget):
        return {
            "kind": "assigned",
            "wait_s": target.wait_s,
            "otherwise": target_to_json(target.otherwise),
        }
    if isinstance(target, OperatorTarget):
        return {
            "kind": "operator",
            "operator": target.operator,
            "wait_s": target.wait_s,
            "otherwise": target_to_json(target.otherwise),
        }
    if isinstance(target, MenuTarget):
        return {"kind": "menu", "menu": target.menu}
    if isinstance(target, RoutesTarget):
        return {"kind": "routes", "routes": target.routes}
    if isinstance(target, CallbackTarget):
        return {"kind": "callback", "message": target.message, "voicemail": target.voicemail}
    return {"kind": "hang_up", "message": target.message}


def target_from_json(data: Any) -> Target:
    """The inverse of `target_to_json`; ValueError/KeyError/TypeError when malformed."""
    if not isinstance(data, Mapping):
        raise TypeError("a target is an object")
    kind = data["kind"]
    if kind == "queue":
        return QueueTarget(str(data["queue"]))
    if kind == "skills":
        skills = tuple(str(s) for s in data["skills"])
        return SkillsTarget(skills, int(data["min_level"]), int(data["max_wait_s"]))
    if kind == "assigned":
        return AssignedTarget(int(data["wait_s"]), target_from_json(data["otherwise"]))
    if kind == "operator":
        otherwise = target_from_json(data["otherwise"])
        return OperatorTarget(str(data["operator"]), int(data["wait_s"]), otherwise)
    if kind == "menu":
        return MenuTarget(str(data["menu"]))
    if kind == "routes":
        return RoutesTarget(str(data["routes"]))
    if kind == "callback":
        return CallbackTarget(_opt_str(data.get("message")), bool(data.get("voicemail")))
    if kind == "hang_up":
        return HangUpTarget(_opt_str(data.get("message")))
    raise ValueError(f"unknown target kind {kind!r}")


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
