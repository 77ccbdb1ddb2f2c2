"""AGI mode's presence rules: the board (the operators' presence ARI mode keeps) and
app_queue's member pauses kept in step, without I/O.

In AGI mode app_queue rings the operators, so the board follows app_queue's events
(router/ami/presence.py): a member rung, answering, done. Pauses go both ways: a pause
set on the phone or in a PBX panel (QueueMemberPause from elsewhere) shows on the board
with its reason, and a state the router sets (an admin's pause, a log-out, the pause
after N no-answers of domain/presence.py) pauses the member in app_queue, so app_queue
stops ringing a phone the board says is not taking calls.

A member belongs to several queues and app_queue pauses each membership on its own: the
operator counts as paused while any of their memberships is (`app_queue_pause`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from router.domain.calls import RingResult
from router.domain.operators import Presence, PresenceChange

# The reason shown for a pause app_queue reports without one (PauseQueueMember with no
# reason, a panel's toggle), and the one the router gives a logged-out operator there.
PBX_REASON = "pbx"
OFFLINE_REASON = "offline"
# app_queue reports a phone that rang out and one that was busy, refused or unreachable
# alike (AgentRingNoAnswer); only the first counts towards the pause. A ring that lasted
# RANG_OUT_S (or the ring timeout less RANG_OUT_SLACK_S, when shorter) rang out: a busy,
# refusing or unreachable phone ends within a second or two. Not the ring timeout alone:
# a PBX's own queues.conf may ring for less than the router's routing.ring_timeout_s.
RANG_OUT_S = 5.0
RANG_OUT_SLACK_S = 1.5
# What the board may be in when app_queue starts ringing the operator: the router's own
# idle states. A paused or logged-out operator is not shown ringing (app_queue is told
# to pause them: a ring then is the moment before it knew).
RINGABLE = frozenset({Presence.AVAILABLE, Presence.WRAP_UP})


@dataclass(frozen=True, slots=True)
class AppQueuePause:
    """One membership's pause as app_queue has it (or the operator's, all memberships)."""

    paused: bool
    reason: str | None = None


NOT_PAUSED = AppQueuePause(False)


def app_queue_pause(memberships: Iterable[AppQueuePause]) -> AppQueuePause:
    """The operator's pause from their memberships': paused while any one is (the
    reason of the first paused one, in the order given)."""
    for member in memberships:
        if member.paused:
            return AppQueuePause(True, member.reason or PBX_REASON)
    return NOT_PAUSED


def wanted_in_app_queue(
    presence: Presence, reason: str | None, pending: PresenceChange | None = None
) -> AppQueuePause:
    """What app_queue should have for an operator the board shows so: paused while the
    board has them paused or logged out, also when that waits for a call to let go
    (`pending`: app_queue pauses at once, a call in progress goes on)."""
    state = pending if pending is not None else PresenceChange(presence, reason)
    if state.presence is Presence.PAUSED:
        return AppQueuePause(True, state.reason or PBX_REASON)
    if state.presence is Presence.OFFLINE:
        return AppQueuePause(True, OFFLINE_REASON)
    return NOT_PAUSED


def same_pause(a: AppQueuePause, b: AppQueuePause) -> bool:
    return a.paused == b.paused and (not a.paused or a.reason == b.reason)


def adopt(
    presence: Presence, reason: str | None, pending: PresenceChange | None, app: AppQueuePause
) -> PresenceChange | None:
    """app_queue's pause changed from elsewhere (the phone, a panel): the state to ask
    the board for (the one rule of domain/presence.py applies: a call holding the
    operator keeps it until it lets go), or None when the board says so already."""
    if same_pause(wanted_in_app_queue(presence, reason, pending), app):
        return None
    if app.paused:
        return PresenceChange(Presence.PAUSED, app.reason or PBX_REASON)
    return PresenceChange(Presence.AVAILABLE)


Resync = tuple[Literal["adopt"], PresenceChange] | tuple[Literal["push"], AppQueuePause]


def resync(
    presence: Presence,
    reason: str | None,
    pending: PresenceChange | None,
    app: AppQueuePause,
    *,
    unsent: bool,
) -> Resync | None:
    """After an AMI login (a router start, Asterisk back, a lost connection): who is
    right when app_queue and the board disagree about a pause.

    - a change the router could not send while AMI was away (`unsent`): the board's;
    - app_queue has the operator paused: app_queue's (the phone or a panel paused them);
    - the board has them paused and app_queue not: the board's, pushed again (app_queue
      forgets pauses when Asterisk restarts). An unpause from the phone while the router
      was not connected is undone: the operator unpauses again.
    """
    wanted = wanted_in_app_queue(presence, reason, pending)
    if same_pause(wanted, app):
        return None
    if unsent or not app.paused:
        return ("push", wanted)
    change = adopt(presence, reason, pending, app)
    return ("adopt", change) if change is not None else None


def ring_result(rang_s: float, ring_timeout_s: float) -> RingResult:
    """An AgentRingNoAnswer: rang out (counts towards the pause) when it lasted long
    enough for a phone that rang; shorter, the phone was busy, refused or unreachable."""
    if rang_s >= min(RANG_OUT_S, ring_timeout_s - RANG_OUT_SLACK_S):
        return RingResult.NO_ANSWER
    return RingResult.BUSY
