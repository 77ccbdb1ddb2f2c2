"""A call's phases and outcomes, as recorded in its journey."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a live call is; persisted so a restarted router can pick it up again."""

    NEW = "new"
    ROUTING = "routing"  # choosing / ringing operators
    BRIDGED = "bridged"  # talking to an operator
    ENDED = "ended"


class Outcome(StrEnum):
    ANSWERED = "answered"  # an operator answered; the conversation happened
    ABANDONED = "abandoned"  # the caller hung up before an operator answered
    NO_OPERATOR = "no_operator"  # nobody could take it (none available / none answered)
    CALLBACK = "callback"  # the rules promised a call back (after hours, max wait, asked)
    VOICEMAIL = "voicemail"  # the caller was asked to leave a message
    MESSAGE = "message"  # a message was played and the call ended, as the rules say
    FAILED = "failed"  # a technical failure ended it (Asterisk restart, ARI error)
    LOST = "lost"  # the call vanished while the router was away; how it ended is unknown


class RingResult(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"  # could not even be dialled (unregistered, unreachable)
    CANCELLED = "cancelled"  # the caller went away while it rang
    FAILED = "failed"


def ring_result_from_cause(cause: int | None) -> RingResult:
    """Map a Q.850 hangup cause of an operator leg that never answered."""
    if cause == 17:
        return RingResult.BUSY
    if cause in (18, 19, 21):  # no user responding, alerting no answer, rejected
        return RingResult.NO_ANSWER
    if cause in (1, 3, 20, 27, 38, 34, 41, 42):
        return RingResult.UNAVAILABLE
    return RingResult.FAILED
