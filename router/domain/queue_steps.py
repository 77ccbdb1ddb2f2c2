"""Queue skill steps relaxed over waiting time.

A queue lists steps such as "at 0 s: paid ≥ 4; at 30 s: paid ≥ 2; at 60 s: paid, any
level; at 120 s: also the Ryazan group". The operators eligible after waiting `t` seconds
are everyone eligible under *any* step already reached (a union), so relaxing never
removes an operator someone already qualified as: a waiting caller's pool only grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from router.domain.operators import Operator
from router.domain.routing import Target
from router.domain.selection import Strategy


@dataclass(frozen=True, slots=True)
class QueueStep:
    after_s: int
    skills: tuple[str, ...] = ()  # all required; empty = any operator of the queue
    min_level: int = 1
    overflow_to: str | None = None  # another queue whose operators also become eligible


@dataclass(frozen=True, slots=True)
class Queue:
    id: str
    steps: tuple[QueueStep, ...]  # sorted by after_s, the first at 0
    branches: frozenset[str] = frozenset()  # the pool; empty = operators of every branch
    teams: frozenset[str] = frozenset()  # the pool; empty = operators of every team
    languages: frozenset[str] = frozenset()  # operators must speak one of these
    priority: int = 0  # higher is served first when queues compete for an operator
    max_wait_s: int = 300
    announce_every_s: int = 0  # 0: no position/wait announcements
    announcement: str | None = None
    at_max_wait: Target | None = None  # None: the callback policy decides
    strategy: Strategy = "longest_idle"
    wrap_up_s: float | None = None  # after a call of this queue; None: the operator's own
    service_level_s: int | None = None  # answered within this counts; None: the console's

    @property
    def skills(self) -> tuple[str, ...]:
        """Every skill any step asks for (what `best_skill` weighs)."""
        return tuple(dict.fromkeys(k for s in self.steps for k in s.skills))


def active_steps(queue: Queue, waited_s: float) -> tuple[QueueStep, ...]:
    """The steps reached after waiting `waited_s` seconds (at least the first)."""
    reached = tuple(s for s in queue.steps if s.after_s <= waited_s)
    return reached or queue.steps[:1]


def step_admits(step: QueueStep, operator: Operator) -> bool:
    return all(operator.skills.get(skill, 0) >= step.min_level for skill in step.skills)


def in_pool(queue: Queue, operator: Operator) -> bool:
    if queue.branches and operator.branch not in queue.branches:
        return False
    if queue.teams and operator.team not in queue.teams:
        return False
    return not queue.languages or bool(queue.languages & set(operator.languages))


def eligible_operators(
    queue: Queue,
    waited_s: float,
    operators: Iterable[Operator],
    queues: Mapping[str, Queue] | None = None,
) -> list[Operator]:
    """Operators who may take a call that has waited `waited_s` in `queue`, in input order.

    Presence is not considered here: `selection.choose_operators` picks among the
    eligible ones who are available. An overflow step adds the other queue's operators
    at *its* first step (one level deep: overflow does not chain).
    """
    pool = list(operators)
    steps = active_steps(queue, waited_s)
    chosen: dict[str, Operator] = {}
    for step in steps:
        for op in pool:
            if in_pool(queue, op) and step_admits(step, op):
                chosen.setdefault(op.id, op)
        other = (queues or {}).get(step.overflow_to) if step.overflow_to else None
        if other is not None and other.steps:
            for op in pool:
                if in_pool(other, op) and step_admits(other.steps[0], op):
                    chosen.setdefault(op.id, op)
    return [op for op in pool if op.id in chosen]


def ever_eligible(
    queue: Queue, operators: Sequence[Operator], queues: Mapping[str, Queue] | None = None
) -> list[Operator]:
    """Operators who could take a call of `queue` at some point (after every step)."""
    last = max((s.after_s for s in queue.steps), default=0)
    return eligible_operators(queue, last, operators, queues)
