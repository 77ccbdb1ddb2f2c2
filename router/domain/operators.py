"""Operators and their presence, as plain values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Presence(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


# States an admin or the operator may set; the others belong to the engine.
SETTABLE = frozenset({Presence.AVAILABLE, Presence.PAUSED, Presence.OFFLINE})


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """A state asked for (API, feature code, console): `reason` only for a pause."""

    presence: Presence
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Operator:
    """An operator as configured (rules YAML, later a directory sync)."""

    id: str
    name: str
    endpoint: str  # e.g. PJSIP/op1001
    team: str | None = None
    branch: str | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: tuple[str, ...] = ("ru",)
    wrap_up_s: float | None = None  # after each call; None: the router's routing.wrap_up_s


@dataclass(slots=True)
class OperatorStatus:
    """An operator's live state. `idle_since` orders "longest idle first"."""

    operator: Operator
    presence: Presence = Presence.OFFLINE
    reason: str | None = None
    since: float = 0.0
    idle_since: float = 0.0
    calls_today: int = 0
    no_answers: int = 0  # consecutive rings let ring out (see domain/presence.py)
    # Asked for while a call held the operator; applied when it lets go (domain/presence.py).
    pending: PresenceChange | None = None

    @property
    def id(self) -> str:
        return self.operator.id
