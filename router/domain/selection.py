"""Choosing which operators to ring for a call, in order."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from router.domain.calls import RingResult
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


# A phone that could not be dialled (unregistered, failing qualify) is often back a
# moment later (re-registering); it is looked at again after 1 s, then 2, 4, 8 s.
RECHECK_FIRST_S = 1.0
RECHECK_MAX_S = 8.0


@dataclass(frozen=True, slots=True)
class Unreachable:
    """An operator skipped for a call because their phone could not be dialled."""

    at: float  # when (clock seconds)
    times: int = 1  # skipped this many times for the call

    def back_at(self) -> float:
        """When the operator may be offered the call again."""
        return self.at + min(RECHECK_FIRST_S * 2.0 ** (self.times - 1), RECHECK_MAX_S)


def stays_tried(result: RingResult) -> bool:
    """Whether a ring leaves the operator tried for the call (never offered it again).

    A phone that rang out, was busy or answered was the operator's answer; one that could
    not be dialled (`unavailable`) says nothing about them: they are skipped for now.
    """
    return result is not RingResult.UNAVAILABLE


def skipped_again(previous: Unreachable | None, now: float) -> Unreachable:
    return Unreachable(now, 1 if previous is None else previous.times + 1)


def offerable(
    eligible: Collection[str],
    tried: Collection[str],
    unreachable: Mapping[str, Unreachable],
    now: float,
) -> frozenset[str]:
    """The eligible operators the call may be offered now: not tried, and not skipped as
    unreachable less than their recheck time ago."""
    return frozenset(
        op
        for op in eligible
        if op not in tried and (op not in unreachable or unreachable[op].back_at() <= now)
    )


def next_recheck(
    eligible: Collection[str], unreachable: Mapping[str, Unreachable], now: float
) -> float | None:
    """The earliest time a skipped eligible operator may be offered the call again."""
    times = [u.back_at() for op, u in unreachable.items() if op in eligible]
    return min((t for t in times if t > now), default=None)
