"""Choosing which operators to ring for a call, in order."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal

from router.domain.operators import OperatorStatus, Presence

Strategy = Literal["longest_idle", "fewest_calls", "best_skill"]


def choose_operators(
    statuses: Iterable[OperatorStatus],
    *,
    assigned_id: str | None = None,
    exclude: Collection[str] = (),
    strategy: Strategy = "longest_idle",
    skills: Collection[str] = (),
) -> list[OperatorStatus]:
    """Available operators in the order to try them.

    The caller's assigned operator comes first when available; then everyone else
    available, longest idle first (ties by id, so the order is deterministic).
    Operators in `exclude` (already rung for this call) are never offered again.
    `strategy` (a queue's choice): `fewest_calls` today first, or `best_skill` (highest
    sum of levels in `skills`) first; longest idle breaks the ties.
    """
    available = [s for s in statuses if s.presence is Presence.AVAILABLE and s.id not in exclude]

    def rank(s: OperatorStatus) -> float:
        if strategy == "fewest_calls":
            return s.calls_today
        if strategy == "best_skill":
            return -sum(s.operator.skills.get(k, 0) for k in skills)
        return 0

    available.sort(key=lambda s: (s.id != assigned_id, rank(s), s.idle_since, s.id))
    return available
