"""A callback attempt of a line in `mode: agi`, dialled over AMI (router/ami/callbacks.py).

It is ARI mode's `CallbackAttempt` (the task's place in the waiting room, the choice of
operator, the hold, `start_attempt` fenced by the claim, the outcome and the ledger) with
other rings: one AMI Originate rings the operator into the shipped dialplan's
[clinic-router-agi-callback]; when they answer, the dialplan asks the router (the gate
here: `start_attempt`, then the `patient` stage, both written before anything is
dialled), whispers and dials the patient itself. The router follows the operator's leg
to its end (`DialEnd` says how the patient's ring ended) and records the outcome.

After a restart a leg still up is followed (`follow`), never dialled again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

from router.ami.callbacks import PATIENT_RINGS, AmiDialer, CallbackCall, DialResult, ami_leg_prefix
from router.config.callback_settings import CallbackSettings
from router.domain.callback_attempt import (
    AttemptStage,
    outcome_after_interruption,
    outcome_of_patient_ring,
)
from router.domain.callback_schedule import AttemptOutcome
from router.domain.calls import RingResult
from router.domain.dispatch import Place
from router.engine.callbacks.attempt import CallbackAttempt
from router.engine.callbacks.attempt_state import Adopted
from router.engine.context import CallContext
from router.storage.models import CallbackTask

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Followed:
    """An AMI attempt's operator leg that a restarted router found still up."""

    leg: str
    patient_answered: bool  # in a bridge with the patient (or the stage said `bridged`)


class AmiCallbackAttempt(CallbackAttempt):
    def __init__(
        self,
        ctx: CallContext,
        cfg: CallbackSettings,
        instance_id: str,
        task: CallbackTask,
        dialer: AmiDialer,
        place: Place | None = None,
        followed: Followed | None = None,
    ) -> None:
        adopted = None
        if followed is not None:
            adopted = Adopted(followed.leg, f"{followed.leg}-pt", followed.patient_answered)
        super().__init__(ctx, cfg, instance_id, task, place=place, adopted=adopted)
        self.dialer = dialer
        self._dialled: DialResult | None = None
        self._answered = followed is not None and followed.patient_answered
        self._stage_write: asyncio.Task[bool] | None = None

    # -- 1. the operator's ring: the whole AMI call (ARI mode's ring, whisper, patient) ---

    async def _ring_operator(self, operator_id: str) -> RingResult:
        ctx, task = self.ctx, self.task
        endpoint = ctx.board.get(operator_id).operator.endpoint
        leg = f"{ami_leg_prefix(task.id, self.attempt)}{secrets.token_hex(3)}"
        self.ringing(operator_id, endpoint, leg)
        started = ctx.clock()
        sounds, digits, reason = self.whisper_parts()
        call = CallbackCall(
            task.id,
            self.attempt,
            endpoint,
            self.cfg.dial_string(task.dial_number),
            sounds,
            digits,
            reason,
            ring_s=self.cfg.patient_ring_timeout_s,
            operator_ring_s=ctx.settings.ring_timeout_s,
            patient_number=task.dial_number,
            line_number=self._line_number() or "",
            leg=leg,
        )
        operator_rang: list[RingResult] = []

        async def gate() -> bool:
            """The operator answered: start the attempt and write the `patient` stage
            before the dialplan may dial."""
            operator_rang.append(self.ring.settle(operator_id, leg, RingResult.ANSWERED, started))
            self.operator_leg, self.operator_id = leg, operator_id
            self.patient_leg = f"{leg}-pt"  # its name in callback_rings
            if not await self._start_attempt(operator_id):
                return False
            repo = ctx.store.callbacks
            return await repo.set_stage(task.id, self.instance_id, AttemptStage.PATIENT)

        def on_ring(party: str, result: RingResult, ms: int) -> None:
            if party == "operator":
                operator_rang.append(self.ring.settle(operator_id, leg, result, started))
            else:
                self._patient_ring_ended(result, ms)

        self._dialled = await self.dialer.call_back(call, gate, on_ring=on_ring)
        if self._dialled is DialResult.OPERATOR_NO_ANSWER:
            return operator_rang[0] if operator_rang else RingResult.NO_ANSWER
        return RingResult.ANSWERED  # `_attempt` says what became of it

    def _patient_ring_ended(self, result: RingResult, ms: int) -> None:
        self._patient_rang(result, self.ctx.clock() - ms / 1000)
        if result is RingResult.ANSWERED:
            self._answered = True
            self._stage_write = asyncio.create_task(
                self.ctx.store.callbacks.set_stage(
                    self.task.id, self.instance_id, AttemptStage.BRIDGED
                )
            )

    # -- 2. what the call came to -----------------------------------------------------

    async def _attempt(self, operator_id: str) -> AttemptOutcome | None:
        result = self._dialled
        if result is None or result is DialResult.NOT_OURS:
            return None  # the claim was lost: nothing was dialled, nothing to record
        if result is DialResult.OPERATOR_LEFT:
            self.operator_left = True
            return AttemptOutcome.INTERRUPTED  # the patient was never dialled
        return await self._outcome(result)

    async def _continue_adopted(self, adopted: Adopted) -> AttemptOutcome:
        """A restart found this attempt's operator leg up: followed to its end."""
        self._adopting(adopted)
        log.info("callback %s: following %s after a restart", self.task.id, adopted.operator_leg)
        result = await self.dialer.follow(
            adopted.operator_leg,
            on_ring=lambda _party, ring, ms: self._patient_ring_ended(ring, ms),
            answered=adopted.patient_up,
        )
        return await self._outcome(result)

    async def _outcome(self, result: DialResult) -> AttemptOutcome:
        if self._stage_write is not None:
            await asyncio.gather(self._stage_write, return_exceptions=True)
        if result is DialResult.PATIENT_ANSWERED:
            return AttemptOutcome.CONNECTED  # no wrong-number key in AGI mode
        ring = PATIENT_RINGS.get(result)
        if ring is not None:
            return outcome_of_patient_ring(ring)
        # the followed leg ended without a word of the patient's ring (its DialEnd came
        # before the restart): the most that can be known, as for a vanished attempt
        stage = AttemptStage.BRIDGED if self._answered else AttemptStage.PATIENT
        return outcome_after_interruption(stage)

    # -- the end ----------------------------------------------------------------------

    async def _hang_up_legs(self) -> None:
        """The dialplan hangs the operator's leg up itself: stop following it."""
        self.legs.let_go()


__all__ = ["AmiCallbackAttempt", "Followed"]
