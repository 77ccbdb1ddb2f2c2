"""Which waiting call gets which free operator: one scheduling pass.

When an operator frees up, several callers may be waiting in different queues. The
caller served first is the one with the highest *aged* priority (the queue's priority
plus one point per `ageing_s` seconds waited, so a low-priority caller is never starved
by a stream of high-priority ones), then the earliest arrival across all queues.

Each call takes at most one operator per pass and each operator goes to at most one
call, so nobody is offered two calls at once and no call rings two phones at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from router.domain.operators import OperatorStatus, Presence
from router.domain.selection import Strategy, choose_operators

DEFAULT_AGEING_S = 60.0
PERSONAL = 1000  # a caller waiting for one named operator (their manager) goes first for them


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """A caller waiting for an operator, as the scheduler sees them."""

    id: str
    priority: int
    since: float  # when they started waiting (clock seconds); kept when a ring fails
    eligible: frozenset[str]  # operator ids who may take the call now (tried ones removed)
    assigned: str | None = None  # preferred first among the eligible
    strategy: Strategy = "longest_idle"  # the queue's choice among the eligible
    skills: tuple[str, ...] = ()  # what `best_skill` weighs


@dataclass(frozen=True, slots=True)
class Place:
    """Where a callback task stands in the waiting room: the place a caller kept when
    they asked to be called back, or the one the dispatcher gives a due task."""

    since: float  # clock seconds; a kept place is the caller's original one
    priority: int
    eligible: frozenset[str]
    preferred: str | None = None  # offered first when free (manager, last spoken to)
    strategy: Strategy = "longest_idle"  # the missed call's queue's choice among them
    skills: tuple[str, ...] = ()  # what `best_skill` weighs


def aged_priority(call: WaitingCall, now: float, ageing_s: float = DEFAULT_AGEING_S) -> float:
    waited = max(0.0, now - call.since)
    return call.priority + (waited / ageing_s if ageing_s > 0 else 0.0)


def serving_order(
    calls: Iterable[WaitingCall], now: float, ageing_s: float = DEFAULT_AGEING_S
) -> list[WaitingCall]:
    """Waiting calls in the order they are served: aged priority, then arrival, then id."""
    return sorted(calls, key=lambda c: (-aged_priority(c, now, ageing_s), c.since, c.id))


def assign(
    calls: Iterable[WaitingCall],
    statuses: Iterable[OperatorStatus],
    now: float,
    ageing_s: float = DEFAULT_AGEING_S,
) -> list[tuple[str, str]]:
    """One scheduling pass: (call id, operator id) pairs to offer, in serving order.

    Only available operators are given out; each operator and each call appears at most
    once. Among the operators a call may take, the assigned one comes first, then the
    longest idle (`choose_operators`).
    """
    free = {s.id: s for s in statuses if s.presence is Presence.AVAILABLE}
    if not free:
        return []
    # Only callers who could take one of the free operators need ordering (usually one
    # operator just freed up, and a fraction of the callers can take them).
    free_ids = free.keys()
    hopeful = [c for c in calls if not c.eligible.isdisjoint(free_ids)]
    pairs: list[tuple[str, str]] = []
    for call in serving_order(hopeful, now, ageing_s):
        if not free:
            break
        # Iterate the smaller side: usually one operator just freed up.
        if len(free) <= len(call.eligible):
            options = [s for i, s in free.items() if i in call.eligible]
        else:
            options = [free[i] for i in call.eligible if i in free]
        if not options:
            continue
        chosen = choose_operators(
            options, assigned_id=call.assigned, strategy=call.strategy, skills=call.skills
        )[0]
        pairs.append((call.id, chosen.id))
        del free[chosen.id]
    return pairs
