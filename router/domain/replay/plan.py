"""Where a replayed caller waits, from the same walk `simulate` and the live router use.

`plan_journey` is run with every operator busy: the walk then goes through each wait the
caller would meet (a manager, a queue's relaxing steps, its `at_max_wait` onward) to the
end the rules give when nobody answers. `waits_of` reads those waits back from the
journey's steps: who is eligible after how many seconds, for how long, with what
priority — computed by `eligible_operators`, not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.domain.dispatch import PERSONAL
from router.domain.journey import Journey, Step
from router.domain.selection import Strategy


@dataclass(frozen=True, slots=True)
class Wait:
    label: str
    priority: int
    max_wait_s: float
    schedule: tuple[tuple[float, frozenset[str]], ...]  # (seconds waited, eligible from then)
    strategy: Strategy = "longest_idle"
    skills: tuple[str, ...] = ()

    def eligible_at(self, waited_s: float) -> frozenset[str]:
        current: frozenset[str] = frozenset()
        for after, ids in self.schedule:
            if after <= waited_s:
                current = ids
        return current

    def changes_after(self, waited_s: float) -> float | None:
        return next((after for after, _ in self.schedule if after > waited_s), None)


@dataclass(frozen=True, slots=True)
class Plan:
    waits: tuple[Wait, ...]
    end: str  # the journey's outcome when no wait is answered: no_operator, callback, …
    task: bool  # the callback policy makes a task of that end


def waits_of(journey: Journey) -> Plan:
    waits: list[Wait] = []
    block: list[Step] = []
    for step in journey.steps:
        data = step.data
        if step.kind == "operator" and "wait_s" in data:
            ids = frozenset({str(data["operator"])})
            label = f"operator {data['operator']}"
            waits.append(Wait(label, PERSONAL, float(data["wait_s"]), ((0.0, ids),)))
        elif step.kind == "queue" and "eligible" in data:
            block.append(step)
        elif step.kind == "queue" and "max_wait_s" in data:
            waits.append(_queue_wait(block, data))
            block = []
    return Plan(tuple(waits), journey.outcome, journey.callback_task)


def _queue_wait(block: Sequence[Step], data: Mapping[str, Any]) -> Wait:
    """A queue's steps (who is eligible from when) and its closing step's settings."""
    schedule = tuple((float(s.data["after_s"]), frozenset(s.data["eligible"])) for s in block)
    return Wait(
        f"queue {data['queue']}",
        int(data["priority"]),
        float(data["max_wait_s"]),
        schedule,
        data["strategy"],
        tuple(data["skills"]),
    )
