"""One callback attempt: its stages, what a ring of the patient's phone means for the
task, and what a router that died mid-attempt must conclude when it comes back.

The stage is written before each step that cannot be taken back (dialling the patient),
so a restart never dials a patient twice and never forgets a conversation that happened.
"""

from __future__ import annotations

from enum import StrEnum

from router.domain.callback_schedule import AttemptOutcome
from router.domain.calls import RingResult


class AttemptStage(StrEnum):
    OPERATOR = "operator"  # the operator answered and hears the whisper; patient not dialled
    PATIENT = "patient"  # the patient's phone is (or was) ringing
    BRIDGED = "bridged"  # the patient answered: they talk


def outcome_of_patient_ring(result: RingResult) -> AttemptOutcome:
    """The attempt's outcome when the patient's phone did not answer."""
    if result is RingResult.BUSY:
        return AttemptOutcome.BUSY
    if result in (RingResult.NO_ANSWER, RingResult.CANCELLED):
        return AttemptOutcome.NO_ANSWER
    return AttemptOutcome.FAILED  # unallocated number, trunk refused, network failure


def outcome_after_interruption(stage: AttemptStage | None) -> AttemptOutcome:
    """A router stopped mid-attempt and its channels are gone: the most that can be known.

    Bridged: they talked (how it ended is lost, the conversation is not). Patient: dialled,
    with no answer anyone saw; the retry schedule applies, never an immediate redial.
    Operator or unknown: the patient was never dialled, so the next try may come at once.
    """
    if stage is AttemptStage.BRIDGED:
        return AttemptOutcome.CONNECTED
    if stage is AttemptStage.PATIENT:
        return AttemptOutcome.NO_ANSWER
    return AttemptOutcome.INTERRUPTED
