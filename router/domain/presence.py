"""Presence policy: who stops being offered calls after a ring attempt, and the one rule
for a state an operator or an admin asks for while a call holds the operator."""

from __future__ import annotations

from dataclasses import dataclass

from router.domain.calls import RingResult
from router.domain.operators import SETTABLE, Presence, PresenceChange

NO_ANSWER_REASON = "no_answer"


@dataclass(frozen=True, slots=True)
class AfterRing:
    no_answers: int  # consecutive rings the operator let ring out
    pause: bool  # pause the operator with reason `no_answer`


def after_ring(no_answers: int, result: RingResult, pause_after: int) -> AfterRing:
    """Count consecutive no-answers; `pause_after` of them in a row pause the operator.

    Only a phone that rang out counts: busy (on another call), unreachable and a caller
    who hung up first say nothing about the operator. An answer starts the count again.
    `pause_after` 0 never pauses.
    """
    if result is RingResult.ANSWERED:
        return AfterRing(0, False)
    if result is not RingResult.NO_ANSWER:
        return AfterRing(no_answers, False)
    count = no_answers + 1
    return AfterRing(count, pause_after > 0 and count >= pause_after)


# While the router rings an operator for a call or they talk, the call owns their state:
# a change asked for then would be overwritten when the call lets go of them.
HELD_BY_A_CALL = frozenset({Presence.RINGING, Presence.ON_CALL})


@dataclass(frozen=True, slots=True)
class StateDecision:
    now: PresenceChange | None  # apply at once
    pending: PresenceChange | None  # what the operator becomes when the call lets go


def decide_request(current: Presence, wanted: PresenceChange) -> StateDecision:
    """The one rule for a state asked for by the operator (feature code) or an admin (API,
    console): applied at once unless a call holds the operator; then it is kept and
    applied when the call lets go, instead of wrap-up (the operator said what comes
    next). Asking for `available` during a call drops what was pending: that is where
    the call ends anyway. A later request replaces an earlier pending one.
    """
    if wanted.presence not in SETTABLE:
        raise ValueError(f"{wanted.presence} is the router's to set, not the operator's")
    reason = wanted.reason if wanted.presence is Presence.PAUSED else None
    change = PresenceChange(wanted.presence, reason)
    if current not in HELD_BY_A_CALL:
        return StateDecision(now=change, pending=None)
    if change.presence is Presence.AVAILABLE:
        return StateDecision(now=None, pending=None)
    return StateDecision(now=None, pending=change)


def after_call(pending: PresenceChange | None, wrap_up_s: float) -> PresenceChange:
    """What an operator becomes when a call lets go of them: the state they asked for
    during it, else wrap-up (when `wrap_up_s` > 0), else available. A ring that was not
    answered passes `wrap_up_s` 0."""
    if pending is not None:
        return pending
    return PresenceChange(Presence.WRAP_UP if wrap_up_s > 0 else Presence.AVAILABLE)
