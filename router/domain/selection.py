"""Choosing which operators to ring for a call, in order."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from router.domain.operators import OperatorStatus, Presence


def choose_operators(
    statuses: Iterable[OperatorStatus],
    *,
    assigned_id: str | None = None,
    exclude: Collection[str] = (),
) -> list[OperatorStatus]:
    """Available operators in the order to try them.

    The caller's assigned operator comes first when available; then everyone else
    available, longest idle first (ties by id, so the order is deterministic).
    Operators in `exclude` (already rung for this call) are never offered again.
    """
    available = [s for s in statuses if s.presence is Presence.AVAILABLE and s.id not in exclude]
    available.sort(key=lambda s: (s.id != assigned_id, s.idle_since, s.id))
    return available
