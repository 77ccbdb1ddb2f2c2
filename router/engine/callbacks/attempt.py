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
from router.ari.events import ChannelDtmfReceived, PlaybackFinished
from router.config.callback_settings import CallbackSettings
from router.domain.callback_attempt import AttemptStage, outcome_of_patient_ring
from router.domain.callback_schedule import AttemptOutcome
from router.domain.calls import RingResult
from router.domain.dispatch import Place, WaitingCall
from router.engine.call_state import CALLBACK_PREFIX, ChannelGone, channel_of, is_terminal
from router.engine.callbacks.attempt_state import (
    Adopted,
    attempt_prefix,
    record_outcome,
    ringback_id,
)
from router.engine.cleanup import delete_bridge
from router.engine.context import CallContext
from router.engine.offers import Seat
from router.engine.ring import SAFETY_S, Legs, Ring
from router.engine.waiting_room import OperatorOffer
from router.observability import logs
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
        self._ringing: str | None = None  # the operator whose phone rings for us now
        self.tried: set[str] = set()
        self.seat = Seat(ctx.room, ctx.board, self.id, self.queue)
        self.legs = Legs(ctx, self)
        # While the patient rings: the operator's leg, whose end cancels that ring.
        self._watching: str | None = None
        self.ring = Ring(
            ctx,
            self.legs,
            self,
            self,
            app_args=[CALLBACK_ARG, str(task.id)],
            lost_reply_refuses=True,
        )
        self._wrong_number = False
        self.outcome: AttemptOutcome | None = None
        self.operator_left = False  # hung up during the whisper: the task pauses
        if adopted is not None:  # at once: their next events must not go astray
            self.legs.add(adopted.operator_leg)
            self.legs.add(adopted.patient_leg)

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.legs

    def live_legs(self) -> set[str]:
        """Legs Asterisk has created (not those whose originate is still under way)."""
        return set(self.legs.created())

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
        # Every line of the attempt names its task and its channels' common prefix.
        logs.bind(callback_task_id=self.task.id, channel=self.bridge_id)
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

    async def get(self, timeout_s: float | None) -> object | None:
        """The next event (None when `timeout_s` passes)."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.queue.get()
        except TimeoutError:
            return None

    def ends(self, event: object) -> bool:
        """The operator left while the patient rings: that ring is cancelled."""
        watching = self._watching
        if watching is None or channel_of(event) != watching or not is_terminal(event):
            return False
        self.legs.ended(watching)
        return True

    def aside(self, event: object) -> None:
        """An operator offered while this attempt no longer waits: given back."""
        self.seat.decline(event)

    # -- the ring journal (the shared ring writes each ring here) -------------------------

    def ringing(self, operator_id: str, endpoint: str, leg: str) -> None:
        log.info(
            "callback %s attempt %d: ringing operator %s (%s) on %s",
            self.task.id,
            self.attempt,
            operator_id,
            endpoint,
            leg,
        )

    def rang(self, operator_id: str, leg: str, result: RingResult, ms: int) -> None:
        log.info(
            "callback %s attempt %d: operator %s %s after %d ms",
            self.task.id,
            self.attempt,
            operator_id,
            result.value,
            ms,
        )
        self._journal("operator", operator_id, leg, result, ms)

    def _patient_rang(self, result: RingResult, started: float) -> None:
        """The patient's ring ended (`started`: when it began, or when this router
        adopted it)."""
        ms = int((self.ctx.clock() - started) * 1000)
        log.info(
            "callback %s attempt %d: patient %s after %d ms",
            self.task.id,
            self.attempt,
            result.value,
            ms,
        )
        if self.operator_id is not None:
            self._journal("patient", self.operator_id, self.patient_leg, result, ms)

    def _journal(self, party: str, operator_id: str, leg: str, result: RingResult, ms: int) -> None:
        self.ctx.recorder_callback_ring(
            self.task.id, self.attempt, party, operator_id, leg, result, ms
        )

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
                self.seat.leave()
                await ctx.store.callbacks.release(self.task.id, self.instance_id, self.task.due_at)
                return None
            if not self.seat.taken():
                waiting = WaitingCall(
                    self.id,
                    place.priority,
                    place.since,
                    eligible,
                    place.preferred or self.task.preferred_operator_id,
                    place.strategy,
                    place.skills,
                )
                self.seat.take(waiting)
            event = await self.get(left)
            if isinstance(event, OperatorOffer):
                self._ringing = event.operator_id
                try:
                    result = await self._ring_operator(event.operator_id)
                finally:
                    self._ringing = None
                if result is RingResult.ANSWERED:
                    return event.operator_id
                self.tried.add(event.operator_id)

    async def _ring_operator(self, operator_id: str) -> RingResult:
        leg = f"{attempt_prefix(self.task.id, self.attempt)}op{secrets.token_hex(3)}"
        result = await self.ring.operator(operator_id, leg, self.task.dial_number)
        if result is RingResult.ANSWERED:
            self.operator_leg, self.operator_id = leg, operator_id
        return result

    def operator_held(self) -> str | None:
        """The operator this attempt rings or talks with now: their presence is this
        attempt's to change (a reconnect's reconcile, which knows inbound calls only,
        must not free them)."""
        return self._ringing or (self.operator_id if self.operator_leg else None)

    # -- 2. the attempt ------------------------------------------------------------------

    async def _attempt(self, operator_id: str) -> AttemptOutcome | None:
        ctx, task = self.ctx, self.task
        repo = ctx.store.callbacks
        if not await self._start_attempt(operator_id):
            return None
        assert self.operator_leg is not None
        if not await self._whisper(self.operator_leg):
            self.operator_left = True
            return AttemptOutcome.INTERRUPTED  # the operator left before the patient was dialled
        if not await repo.set_stage(task.id, self.instance_id, AttemptStage.PATIENT):
            return None
        # The operator hears the patient's phone ring (a fixed id: a restarted router
        # can still stop it).
        try:
            await self._play(self.operator_leg, [RINGBACK], ringback_id(self.operator_leg))
        except ari_errors.AriError:
            pass  # said by `_play`; the operator hears silence until the patient answers
        started = ctx.clock()
        try:
            await self.ring.originate(
                self.patient_leg,
                self.cfg.dial_string(task.dial_number),
                timeout_s=self.cfg.patient_ring_timeout_s,
                caller_id=self._line_number(),
            )
        except ari_errors.AriError as exc:
            log.warning("callback %s: the trunk refused the call (%s)", task.id, exc)
            self._patient_rang(RingResult.UNAVAILABLE, started)
            return AttemptOutcome.FAILED
        return await self._patient_rings(self.operator_leg, started)

    async def _start_attempt(self, operator_id: str) -> bool:
        """The operator answered: the attempt starts under our claim (False: the claim is
        no longer ours, nothing is dialled)."""
        ctx, task = self.ctx, self.task
        if not await ctx.store.callbacks.start_attempt(
            task.id, self.instance_id, ctx.now(), operator_id
        ):
            log.warning("callback %s: claim lost before the attempt; not dialling", task.id)
            return False
        log.info(
            "callback %s attempt %d started: operator %s, at %s",
            task.id,
            self.attempt,
            operator_id,
            ctx.now().isoformat(timespec="seconds"),
        )
        ctx.board.connected(operator_id)
        return True

    async def _patient_rings(self, operator_leg: str, started: float) -> AttemptOutcome:
        self._watching = operator_leg
        try:
            result = await self.ring.answer_of(
                self.patient_leg, self.cfg.patient_ring_timeout_s + SAFETY_S
            )
        finally:
            self._watching = None
        self._patient_rang(result, started)
        if result is not RingResult.ANSWERED:
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
            self.aside(event)
            channel = channel_of(event)
            if (
                isinstance(event, ChannelDtmfReceived)
                and channel == operator_leg
                and event.digit == WRONG_NUMBER_KEY
            ):
                self._wrong_number = True
            if channel in (operator_leg, self.patient_leg) and is_terminal(event):
                self.legs.ended(channel)
                break
        return AttemptOutcome.WRONG_NUMBER if self._wrong_number else AttemptOutcome.CONNECTED

    async def _continue_adopted(self, adopted: Adopted) -> AttemptOutcome:
        """A restart found this attempt's operator and patient legs alive: carry on."""
        self._adopting(adopted)
        if not adopted.patient_up:
            return await self._patient_rings(adopted.operator_leg, self.ctx.clock())
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

    def _adopting(self, adopted: Adopted) -> None:
        """An attempt a stopped router started: its operator is on the call again, and
        its answered rings are recorded."""
        if self.operator_id and self.ctx.board.has(self.operator_id):
            self.ctx.board.connected(self.operator_id)
        # The stopped router's record of the answered rings may not have been written:
        # recorded again (for no time: when they began is not known); the channel's
        # unique key keeps one row when it was.
        if self.operator_id is not None:
            self._journal(
                "operator", self.operator_id, adopted.operator_leg, RingResult.ANSWERED, 0
            )
            if adopted.patient_up:
                self._journal(
                    "patient", self.operator_id, adopted.patient_leg, RingResult.ANSWERED, 0
                )

    # -- media ---------------------------------------------------------------------------

    async def _whisper(self, leg: str) -> bool:
        """Tell the operator whom they call back and why; False: they hung up."""
        sounds, digits, reason = self.whisper_parts()
        media = [f"sound:{p}" for p in sounds]
        if digits:
            media.append(f"digits:{digits}")
        if reason:
            media.append(f"sound:{reason}")
        try:
            playback = await self._play(leg, media)
        except ari_errors.AriError:
            return True  # said by `_play`; nothing plays, so nothing to wait for
        if playback is None:
            return False
        deadline = self.ctx.clock() + WHISPER_TIMEOUT_S
        while True:
            event = await self.get(max(0.0, deadline - self.ctx.clock()))
            if event is None:
                return True
            self.aside(event)
            if channel_of(event) == leg and is_terminal(event):
                self.legs.ended(leg)
                return False
            if isinstance(event, PlaybackFinished) and event.playback.id == playback:
                return True

    def whisper_parts(self) -> tuple[tuple[str, ...], str, str]:
        """The whisper: its sounds, the digits of the number read out after them, and the
        sound of the last miss's reason ("" when none)."""
        reason = self.task.reasons[-1] if self.task.reasons else ""
        count = self.cfg.whisper_digits
        digits = self.task.dial_number.lstrip("+")[-count:] if count else ""
        return (
            tuple(self.cfg.whisper),
            digits,
            f"{self.cfg.reason_prompt_prefix}{reason}" if reason else "",
        )

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
        await record_outcome(
            self.ctx, self.task, outcome, self.attempt, operator_left=self.operator_left
        )

    def _let_go(self) -> None:
        """Stop watching without touching Asterisk or the ledger (the router stops)."""
        self.seat.leave()
        self.legs.let_go()
        self.seat.decline_queued()

    async def _clean_up(self) -> None:
        ctx = self.ctx
        self.seat.leave()
        await self._hang_up_legs()
        self.seat.decline_queued()
        if self.operator_id and ctx.board.has(self.operator_id) and self.operator_leg:
            ctx.operator_call_finished(self.operator_id)

    async def _hang_up_legs(self) -> None:
        """What is left of the attempt in Asterisk: hung up, its bridge deleted."""
        for leg in sorted(self.legs.all()):
            await self.legs.hang_up(leg)
        await delete_bridge(self.ctx.ari, self.bridge_id)

    def _line_number(self) -> str | None:
        line = self.ctx.rules().line(self.task.line)
        if line is None or not line.numbers:
            return None
        number = line.numbers[0]
        return number if number.startswith("+") else f"+{number}"


__all__ = ["CALLBACK_ARG", "CallbackAttempt"]
