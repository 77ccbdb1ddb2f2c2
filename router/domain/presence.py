"""Presence policy after a ring attempt: who stops being offered calls, and why."""

from __future__ import annotations

from dataclasses import dataclass

from router.domain.calls import RingResult

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
