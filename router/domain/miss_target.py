"""Where a missed call was meant to go, and who may therefore call it back.

A callback is the missed call, later: it goes to an operator who could have taken the
call (same branch pool, same skills), chosen with the same pure functions as the live
routing (`queue_steps.eligible_operators` over the queue's steps). The call records the
last queue (or skills) and the last named operator (manager, duty doctor) it sought;
the ledger keeps it on the task (`MissTarget`, JSON).

Eligibility of a callback is the queue's *widest* pool (every step reached, overflow
included, `ever_eligible`): the patient already waited, and a callback is not hurried
by seconds as a live caller is. A task without a target (the dialplan fallback, a call
found closed on reconnect, a task older than the target) takes its line's default: any
operator of the line's branch (any operator at all when the line names no branch).
A target naming only a person (an operator route whose `otherwise` is a message) offers
that person first, then the line's default pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from router.domain.operators import Operator
from router.domain.queue_steps import Queue, QueueStep, ever_eligible
from router.domain.routing import (
    AssignedTarget,
    OperatorTarget,
    QueueTarget,
    SkillsTarget,
    Target,
)
from router.domain.selection import Strategy


@dataclass(frozen=True, slots=True)
class MissTarget:
    """What a missed call was waiting for. `queue` or `skills` is the pool (a queue of
    the rules, or a one-step skills target); `operator` the one person it was for."""

    line: str | None = None
    queue: str | None = None
    skills: tuple[str, ...] | None = None  # None: no skills target; (): any operator
    min_level: int = 1
    operator: str | None = None

    @property
    def specific(self) -> bool:
        """It says more than the line: a pool or a person."""
        return self.queue is not None or self.skills is not None or self.operator is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"line": self.line, "queue": self.queue}
        data["skills"] = None if self.skills is None else list(self.skills)
        data["min_level"] = self.min_level
        data["operator"] = self.operator
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any] | None) -> MissTarget | None:
        if not data:
            return None
        skills = data.get("skills")
        return MissTarget(
            line=data.get("line"),
            queue=data.get("queue"),
            skills=None if skills is None else tuple(str(s) for s in skills),
            min_level=int(data.get("min_level", 1)),
            operator=data.get("operator"),
        )


def aim(
    current: MissTarget | None,
    target: Target,
    *,
    line: str | None,
    assigned: str | None = None,
) -> MissTarget | None:
    """The call now follows `target`: what it is waiting for from here on. A pool replaces
    the previous pool; a named operator replaces the previous one (the pool stays: the
    rules send the call there if the person does not answer). Other targets (menus,
    routes, messages) change nothing."""
    base = current or MissTarget(line=line)
    if isinstance(target, QueueTarget):
        return replace(base, queue=target.queue, skills=None, min_level=1)
    if isinstance(target, SkillsTarget):
        return replace(base, queue=None, skills=target.skills, min_level=target.min_level)
    if isinstance(target, AssignedTarget):
        return base if assigned is None else replace(base, operator=assigned)
    if isinstance(target, OperatorTarget):
        return replace(base, operator=target.operator)
    return current


def merged(earlier: MissTarget | None, latest: MissTarget | None) -> MissTarget | None:
    """A repeat miss joins the number's task: the latest specific target wins (the
    patient's latest need); a miss that knows nothing more keeps what the task had."""
    if latest is not None and latest.specific:
        return latest
    return earlier or latest


@dataclass(frozen=True, slots=True)
class CallbackPool:
    """Who may dial a task's callback, and how to choose among them (as the queue)."""

    eligible: frozenset[str]
    preferred: str | None = None
    strategy: Strategy = "longest_idle"
    skills: tuple[str, ...] = ()


def callback_pool(
    target: MissTarget | None,
    *,
    line_branch: str | None,
    operators: Sequence[Operator],
    queues: Mapping[str, Queue],
) -> CallbackPool:
    """The operators who may call back a miss of `target` (see the module docstring).

    A queue removed from the rules since the miss, or an operator no longer configured,
    counts as unknown: the line's default pool stands in for it.
    """
    known = {op.id for op in operators}
    operator = target.operator if target and target.operator in known else None
    queue = _pool_queue(target, queues) or _line_default(line_branch)
    eligible = frozenset(op.id for op in ever_eligible(queue, operators, queues))
    if operator is not None:
        eligible |= {operator}
    return CallbackPool(eligible, operator, queue.strategy, queue.skills)


def _pool_queue(target: MissTarget | None, queues: Mapping[str, Queue]) -> Queue | None:
    if target is None:
        return None
    if target.queue is not None:
        return queues.get(target.queue)
    if target.skills is not None:
        # As the live walk builds a skills target: a one-step queue over every branch.
        step = QueueStep(0, target.skills, target.min_level)
        return Queue("skills " + ("+".join(target.skills) or "any"), (step,))
    return None


def _line_default(branch: str | None) -> Queue:
    return Queue("line default", (QueueStep(0),), frozenset({branch}) if branch else frozenset())


__all__ = ["CallbackPool", "MissTarget", "aim", "callback_pool", "merged"]
