"""One callback attempt, as one coroutine: wait in the waiting room for an operator, ring
them, whisper who is being called back, dial the patient through the outbound trunk,
bridge them, and record the outcome on the task.

Exactly once: the attempt is recorded (`start_attempt`, fenced by our claim) only when the
operator answers, and each stage is recorded before it is entered, so a router that dies
at any moment neither dials the patient twice nor loses the task (`callback_dispatch`
resolves what it left behind).
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from router.ari import errors as ari_errors
from router.ari.events import ChannelDtmfReceived, PlaybackFinished, StasisStart
from router.config.callback_settings import CallbackSettings
from router.domain.callback_attempt import AttemptStage, outcome_of_patient_ring
from router.domain.callback_schedule import AttemptOutcome
from router.domain.calls import RingResult, ring_result_from_cause
from router.domain.dispatch import Place, WaitingCall
from router.engine.call_operators import endpoint_state
from router.engine.call_state import CALLBACK_PREFIX, ChannelGone, channel_of, is_terminal
from router.engine.callback_attempt_state import (
    Adopted,
    attempt_prefix,
    record_outcome,
    ringback_id,
)
from router.engine.cleanup import delete_bridge, hang_up
from router.engine.context import CallContext
from router.engine.waiting_room import OperatorOffer, give_back, put_offer
from router.storage.models import CallbackTask

log = logging.getLogger(__name__)

CALLBACK_ARG = "callback"
WRONG_NUMBER_KEY = "9"  # pressed by the operator during the talk: someone else answered
RINGBACK = "tone:ring"
WHISPER_TIMEOUT_S = 20.0


class CallbackAttempt:
    def __init__(
        self,
        ctx: CallContext,
        cfg: CallbackSettings,
        instance_id: str,
        task: CallbackTask,
        place: Place | None = None,
        adopted: Adopted | None = None,
    ) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.instance_id = instance_id
        self.task = task
        self.place = place
        self.adopted = adopted
        self.id = f"{CALLBACK_PREFIX}{task.id}"
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=256)
        # A started attempt (adopted) already counts in `attempts`; a new one will.
        self.attempt = task.attempts if adopted else task.attempts + 1
        prefix = attempt_prefix(task.id, self.attempt)
        self.bridge_id = prefix.rstrip("-")
        self.patient_leg = adopted.patient_leg if adopted else f"{prefix}pt"
        self.operator_leg: str | None = adopted.operator_leg if adopted else None
        self.operator_id: str | None = task.attempt_operator_id if adopted else None
        self.tried: set[str] = set()
        self._legs: set[str] = set()
        self._originating: set[str] = set()
        self._wrong_number = False
        self.outcome: AttemptOutcome | None = None
        if adopted is not None:  # at once: their next events must not go astray
            self._attach(adopted.operator_leg)
            self._attach(adopted.patient_leg)

    def owns(self, channel_id: str) -> bool:
        return channel_id in self._legs

    def live_legs(self) -> set[str]:
        """Legs Asterisk has created (not those whose originate is still under way)."""
        return self._legs - self._originating

    def vanished(self, legs: set[str]) -> None:
        """After a reconnect: these legs are gone from Asterisk, their end events lost
        with the socket. Told as events, so each step ends as it would have."""
        for leg in sorted(legs):
            log.info("callback %s: leg %s vanished while disconnected", self.task.id, leg)
            try:
                self.queue.put_nowait(ChannelGone(leg))
            except asyncio.QueueFull:  # 256 events unread: the attempt is stuck anyway
                log.error("callback %s: event queue full; %s not told", self.task.id, leg)

    # -- the coroutine ------------------------------------------------------------------

    async def run(self) -> None:
        stopping = False
        try:
            outcome: AttemptOutcome | None = None
            if self.adopted is not None:
                outcome = await self._continue_adopted(self.adopted)
            else:
                operator_id = await self._get_operator()
                if operator_id is not None:
                    outcome = await self._attempt(operator_id)
            if outcome is not None:
                await self._finish(outcome)
        except asyncio.CancelledError:
            # The router stops (SIGTERM, restart): as a kill would, leave the legs, the
            # bridge and the ledger as they are. Asterisk keeps the conversation (or the
            # ringing) going and the next start adopts or settles it (`resume`).
            stopping = True
            self._let_go()
            raise
        finally:
            if not stopping:
                await self._clean_up()

    def _offer(self, offer: OperatorOffer) -> bool:
        return put_offer(self.queue, offer)

    async def _next(self, timeout: float | None) -> object | None:
        try:
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None

    # -- 1. an operator ------------------------------------------------------------------

    async def _get_operator(self) -> str | None:
        """Wait in the room (the task keeps its place) and ring what it offers; None: the
        hold ran out or nobody is left, and the claim was given back."""
        ctx, place = self.ctx, self.place
        assert place is not None
        deadline = ctx.clock() + self.cfg.hold_s
        while True:
            eligible = place.eligible - self.tried
            left = deadline - ctx.clock()
            if not eligible or left <= 0:
                ctx.room.leave(self.id)
                await ctx.store.callbacks.release(self.task.id, self.instance_id, self.task.due_at)
                return None
            if not ctx.room.is_waiting(self.id):
                waiting = WaitingCall(
                    self.id,
                    place.priority,
                    place.since,
                    eligible,
                    place.preferred or self.task.preferred_operator_id,
                    place.strategy,
                    place.skills,
                )
                ctx.room.wait(waiting, self._offer)
            event = await self._next(left)
            if isinstance(event, OperatorOffer):
                if await self._ring_operator(event.operator_id) is RingResult.ANSWERED:
                    return event.operator_id
                self.tried.add(event.operator_id)

    async def _ring_operator(self, operator_id: str) -> RingResult:
        ctx = self.ctx
        endpoint = ctx.board.get(operator_id).operator.endpoint
        leg = f"{attempt_prefix(self.task.id, self.attempt)}op{secrets.token_hex(3)}"
        result = RingResult.UNAVAILABLE
        state = await endpoint_state(ctx, endpoint)
        if state == "busy":
            result = RingResult.BUSY
        elif state == "ok":
            try:
                await self._originate(
                    leg,
                    endpoint,
                    timeout_s=ctx.settings.ring_timeout_s,
                    caller_id=self.task.dial_number,
                )
                result = await self._until_answered(leg, ctx.settings.ring_timeout_s + 10)
            except ari_errors.AriError:
                result = RingResult.UNAVAILABLE
        if result is RingResult.ANSWERED:
            self.operator_leg, self.operator_id = leg, operator_id
        else:
            ctx.board.ring_failed(operator_id)
            await self._drop(leg)
        ctx.operator_ring_result(operator_id, result)
        return result

    async def _originate(
        self, leg: str, endpoint: str, *, timeout_s: int, caller_id: str | None
    ) -> None:
        self._attach(leg)  # before: its first events must find us
        self._originating.add(leg)
        try:
            await self.ctx.ari.originate(
                endpoint,
                channel_id=leg,
                app_args=[CALLBACK_ARG, str(self.task.id)],
                timeout_s=timeout_s,
                caller_id=caller_id,
            )
        finally:
            self._originating.discard(leg)

    async def _until_answered(
        self, leg: str, timeout_s: float, *, watch: str | None = None
    ) -> RingResult:
        """Wait for `leg` to be answered (StasisStart) or to end; `watch` ending first
        (the operator, while the patient rings) counts as CANCELLED."""
        deadline = self.ctx.clock() + timeout_s
        while True:
            event = await self._next(max(0.0, deadline - self.ctx.clock()))
            if event is None:
                return RingResult.NO_ANSWER
            self._decline(event)
            channel = channel_of(event)
            if channel == leg and isinstance(event, StasisStart):
                return RingResult.ANSWERED
            if channel == leg and is_terminal(event):
                self._legs.discard(leg)
                return ring_result_from_cause(getattr(event, "cause", None))
            if watch is not None and channel == watch and is_terminal(event):
                self._legs.discard(watch)
                return RingResult.CANCELLED

    # -- 2. the attempt ------------------------------------------------------------------

    async def _attempt(self, operator_id: str) -> AttemptOutcome | None:
        ctx, task = self.ctx, self.task
        repo = ctx.store.callbacks
        if not await repo.start_attempt(task.id, self.instance_id, ctx.now(), operator_id):
            log.warning("callback %s: claim lost before the attempt; not dialling", task.id)
            return None
        ctx.board.connected(operator_id)
        assert self.operator_leg is not None
        if not await self._whisper(self.operator_leg):
            return AttemptOutcome.INTERRUPTED  # the operator left before the patient was dialled
        if not await repo.set_stage(task.id, self.instance_id, AttemptStage.PATIENT):
            return None
        # The operator hears the patient's phone ring (a fixed id: a restarted router
        # can still stop it).
        try:
            await self._play(self.operator_leg, [RINGBACK], ringback_id(self.operator_leg))
        except ari_errors.AriError:
            pass  # said by `_play`; the operator hears silence until the patient answers
        try:
            await self._originate(
                self.patient_leg,
                self.cfg.dial_string(task.dial_number),
                timeout_s=self.cfg.patient_ring_timeout_s,
                caller_id=self._line_number(),
            )
        except ari_errors.AriError as exc:
            log.warning("callback %s: the trunk refused the call (%s)", task.id, exc)
            return AttemptOutcome.FAILED
        return await self._patient_rings(self.operator_leg)

    async def _patient_rings(self, operator_leg: str) -> AttemptOutcome:
        result = await self._until_answered(
            self.patient_leg, self.cfg.patient_ring_timeout_s + 10, watch=operator_leg
        )
        if result is not RingResult.ANSWERED:
            await self._drop(self.patient_leg)
            return outcome_of_patient_ring(result)
        return await self._talk(operator_leg, joined=False)

    async def _talk(self, operator_leg: str, *, joined: bool) -> AttemptOutcome:
        ctx = self.ctx
        await ctx.store.callbacks.set_stage(self.task.id, self.instance_id, AttemptStage.BRIDGED)
        if not joined:
            await self._stop_ringback(operator_leg)
            await ctx.ari.create_bridge(self.bridge_id, "mixing", name=self.bridge_id)
            try:
                await ctx.ari.add_channel(self.bridge_id, [operator_leg, self.patient_leg])
            except ari_errors.AriNotFound:
                return AttemptOutcome.NO_ANSWER  # the patient hung up as they answered
        log.info("callback %s: patient and operator %s connected", self.task.id, self.operator_id)
        while True:
            event = await self.queue.get()
            self._decline(event)
            channel = channel_of(event)
            if (
                isinstance(event, ChannelDtmfReceived)
                and channel == operator_leg
                and event.digit == WRONG_NUMBER_KEY
            ):
                self._wrong_number = True
            if channel in (operator_leg, self.patient_leg) and is_terminal(event):
                self._legs.discard(channel)
                break
        return AttemptOutcome.WRONG_NUMBER if self._wrong_number else AttemptOutcome.CONNECTED

    async def _continue_adopted(self, adopted: Adopted) -> AttemptOutcome:
        """A restart found this attempt's operator and patient legs alive: carry on."""
        if self.operator_id and self.ctx.board.has(self.operator_id):
            self.ctx.board.connected(self.operator_id)
        if not adopted.patient_up:
            return await self._patient_rings(adopted.operator_leg)
        await self._stop_ringback(adopted.operator_leg)
        try:
            members = (await self.ctx.ari.get_bridge(self.bridge_id)).channel_ids
        except ari_errors.AriNotFound:
            await self.ctx.ari.create_bridge(self.bridge_id, "mixing", name=self.bridge_id)
            members = ()
        missing = [c for c in (adopted.operator_leg, adopted.patient_leg) if c not in members]
        if missing:
            try:
                await self.ctx.ari.add_channel(self.bridge_id, missing)
            except ari_errors.AriNotFound:
                # A leg hung up as we adopted it: the conversation took place and has now
                # ended, as if it had ended a moment later (legs and bridge cleaned up).
                log.info("callback %s: a leg hung up as it was adopted", self.task.id)
                return AttemptOutcome.CONNECTED
        return await self._talk(adopted.operator_leg, joined=True)

    # -- media ---------------------------------------------------------------------------

    async def _whisper(self, leg: str) -> bool:
        """Tell the operator whom they call back and why; False: they hung up."""
        reason = self.task.reasons[-1] if self.task.reasons else ""
        media = [f"sound:{p}" for p in self.cfg.whisper]
        if self.cfg.whisper_digits:
            media.append(f"digits:{self.task.dial_number.lstrip('+')[-self.cfg.whisper_digits :]}")
        if reason:
            media.append(f"sound:{self.cfg.reason_prompt_prefix}{reason}")
        try:
            playback = await self._play(leg, media)
        except ari_errors.AriError:
            return True  # said by `_play`; nothing plays, so nothing to wait for
        if playback is None:
            return False
        deadline = self.ctx.clock() + WHISPER_TIMEOUT_S
        while True:
            event = await self._next(max(0.0, deadline - self.ctx.clock()))
            if event is None:
                return True
            self._decline(event)
            if channel_of(event) == leg and is_terminal(event):
                self._legs.discard(leg)
                return False
            if isinstance(event, PlaybackFinished) and event.playback.id == playback:
                return True

    async def _play(self, leg: str, media: list[str], playback_id: str | None = None) -> str | None:
        """Start `media` on `leg`; its playback id, or None when the leg is gone (404).
        Any other refusal is logged and raised: no PlaybackFinished will come for it."""
        playback_id = playback_id or f"{leg}-{secrets.token_hex(3)}"
        try:
            await self.ctx.ari.play(leg, media, playback_id=playback_id)
        except ari_errors.AriNotFound:
            return None
        except ari_errors.AriError as exc:
            log.warning(
                # Not the media: the whisper holds the last digits of the patient's number.
                "callback %s: cannot play the whisper to the operator (%s)",
                self.task.id,
                exc,
            )
            raise
        return playback_id

    async def _stop_ringback(self, leg: str) -> None:
        try:
            await self.ctx.ari.stop_playback(ringback_id(leg))
        except ari_errors.AriError:
            pass  # already over

    # -- the end -------------------------------------------------------------------------

    async def _finish(self, outcome: AttemptOutcome) -> None:
        self.outcome = outcome
        await record_outcome(self.ctx, self.task, outcome, self.attempt)

    def _let_go(self) -> None:
        """Stop watching without touching Asterisk or the ledger (the router stops)."""
        self.ctx.room.leave(self.id)
        for leg in list(self._legs):
            self.ctx.detach(leg)
        self._legs.clear()
        while not self.queue.empty():
            self._decline(self.queue.get_nowait())

    async def _clean_up(self) -> None:
        ctx = self.ctx
        ctx.room.leave(self.id)
        for leg in list(self._legs):
            await self._drop(leg)
        await delete_bridge(ctx.ari, self.bridge_id)
        while not self.queue.empty():
            self._decline(self.queue.get_nowait())
        if self.operator_id and ctx.board.has(self.operator_id) and self.operator_leg:
            ctx.operator_call_finished(self.operator_id)

    def _attach(self, leg: str) -> None:
        self._legs.add(leg)
        self.ctx.attach(leg, self)

    async def _drop(self, leg: str) -> None:
        if leg in self._legs:
            await hang_up(self.ctx.ari, leg)
        self._legs.discard(leg)
        self.ctx.detach(leg)

    def _decline(self, event: object) -> None:
        """An operator offered while this attempt no longer waits: give them back."""
        give_back(self.ctx.board, event)

    def _line_number(self) -> str | None:
        line = self.ctx.rules().line(self.task.line)
        if line is None or not line.numbers:
            return None
        number = line.numbers[0]
        return number if number.startswith("+") else f"+{number}"


__all__ = ["CALLBACK_ARG", "CallbackAttempt"]
