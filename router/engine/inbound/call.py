"""One inbound call, from arrival to its outcome, as one coroutine.

The coroutine reads only its own event queue (events for the caller's channel and the
operator legs it created, offers from the waiting room, a supervisor's moves), so it
reads like the call: answer -> identify -> walk the line's routes (menus, queues,
managers; `walk.py`) -> outcome. What the call does at each step is in the parts it has
(this package's other modules).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from router.ari import errors as ari_errors
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, Phase, RingResult
from router.domain.miss_target import MissTarget
from router.domain.routing import (
    CallerFacts,
    RoutesTarget,
    Target,
)
from router.domain.wait_resume import RulesView, resume_point, target_to_json
from router.engine.call_state import CallerGone, Resume
from router.engine.context import CallContext
from router.engine.facts import caller_facts, visit_soon, zone_of
from router.engine.inbound.bridge import CallBridge
from router.engine.inbound.caller import Caller
from router.engine.inbound.channel import CallerChannel
from router.engine.inbound.endings import Endings
from router.engine.inbound.identify import Identify
from router.engine.inbound.keep_place import KeepPlace
from router.engine.inbound.operators import CallOperators
from router.engine.inbound.prompts import Prompts
from router.engine.inbound.waiting import Waiting
from router.engine.inbound.walk import Walk
from router.observability import logs
from router.storage.models import PatientRecord

log = logging.getLogger(__name__)


class InboundCall:
    """Owns one caller channel and the operator legs it originates."""

    def __init__(
        self,
        ctx: CallContext,
        call_id: str,
        did: str,
        caller_raw: str,
        resume: Resume | None = None,
    ) -> None:
        self.ctx = ctx
        self.id = call_id
        self.did = did
        self.caller_raw = caller_raw
        self.resume = resume
        self.started_at = ctx.clock()
        if resume is not None and resume.started_at is not None:
            self.started_at -= max(0.0, (ctx.now() - resume.started_at).total_seconds())
        self.rules = ctx.rules()  # the version the call started with routes it to the end
        self._handed_to_fallback = False
        # The parts the call has.
        self.caller = Caller.of(call_id, self.rules.line_for(did), resume)
        self.channel = CallerChannel(ctx, call_id)
        self.queue = self.channel.queue  # the engine delivers here
        self.prompts = Prompts(self.channel)
        self.bridge = CallBridge(self.channel, self.prompts, adopted=resume is not None)
        self.operators = CallOperators(
            self, self.channel, self.prompts, self.bridge, self.caller, resume
        )
        self.keep_place = KeepPlace(
            self.channel, self.prompts, self.bridge, self.caller, self.rules
        )
        self.waiting = Waiting(
            self.channel,
            self.prompts,
            self.bridge,
            self.operators,
            self.keep_place,
            self.caller,
            self.rules,
        )
        self.endings = Endings(self.channel, self.prompts, self.bridge)
        self.walk = Walk(
            ctx,
            self.rules,
            self.caller,
            self.channel,
            self.prompts,
            self.bridge,
            self.operators,
            self.waiting,
            self.endings,
            self.started_at,
        )

    # The walk's findings, the call's too (one copy, in the walk).
    @property
    def outcome(self) -> Outcome | None:
        return self.walk.outcome

    @outcome.setter
    def outcome(self, value: Outcome | None) -> None:
        self.walk.outcome = value

    @property
    def facts(self) -> CallerFacts | None:
        return self.walk.facts

    @facts.setter
    def facts(self, value: CallerFacts | None) -> None:
        self.walk.facts = value

    @property
    def visit(self) -> datetime | None:
        return self.walk.visit

    # -- what the engine and reconcile see ------------------------------------------------

    @property
    def operator_id(self) -> str | None:
        return self.operators.operator_id

    @property
    def operator_channel(self) -> str | None:
        return self.operators.operator_channel

    @property
    def ringing_operator(self) -> str | None:
        return self.operators.ringing_operator

    # What the console shows of a live call.
    @property
    def caller_e164(self) -> str | None:
        return self.caller.e164

    @property
    def patient_id(self) -> str | None:
        return self.caller.patient_id

    @property
    def menu_path(self) -> list[str]:
        return self.caller.menu_path

    @property
    def miss_target(self) -> MissTarget | None:
        return self.caller.miss_target

    @property
    def tried(self) -> list[str]:
        return self.operators.tried

    def legs(self) -> frozenset[str]:
        """The operator legs this call owns now (ringing, or talking)."""
        return self.operators.legs.all()

    def record_new(self) -> None:
        """The call's row in the journal, for a caller found in our app with no row on
        reconnect (the lost write's), with their number: a miss needs it for its task."""
        caller = self.caller
        caller.learn_number(self.caller_raw, self.ctx.settings.region)
        self.ctx.recorder_create(self.id, self.caller_raw, self.did, caller.line_id, caller.e164)

    # -- the call -------------------------------------------------------------------------

    async def run(self) -> None:
        logs.bind(call_id=self.id, channel=self.id)  # every line of the call says so
        try:
            if self.resume is not None and self.resume.bridged_with:
                self.channel.event("adopted", {"state": "bridged", "operator": self.operator_id})
                # The close may not have been written before the restart (idempotent).
                self.ctx.reached_operator(self.id, self.caller.e164)
                self.outcome = Outcome.ANSWERED
                await self.operators.talk(self.resume.bridged_with)
            elif self.resume is not None and self.resume.talk_over:
                # The operator hung up while no router listened: the call is over, as it
                # would have been live (the caller is hung up as the call finishes).
                self.channel.event("adopted", {"state": "talk_over", "operator": self.operator_id})
                self.ctx.reached_operator(self.id, self.caller.e164)
                self.outcome = Outcome.ANSWERED
            else:
                await self._route()
        except CallerGone as gone:
            self._caller_gone(gone)
        except asyncio.CancelledError:
            # Router shutting down: leave the call to Asterisk; a restart adopts it.
            log.info("call task cancelled (router stopping); the call stays in Asterisk")
            self.channel.seat.leave()
            self.ctx.detach_all(self)
            raise
        except ari_errors.AriError as exc:
            await self._hand_to_fallback(f"{type(exc).__name__}: {exc}")
        await self._finish()

    async def _route(self) -> None:
        line = self.caller.line
        identify = Identify(self.channel, self.prompts, self.caller)
        start: Target = RoutesTarget(line.routes) if line else self.walk.last_resort_target()
        if self.resume is None:
            found = self.caller.number(self.caller_raw, self.ctx.settings.region)
            self.caller.e164 = found.e164
            # On disk before the answer: a kill from here on leaves an open call to close.
            await self.ctx.record_arrival(
                self.id, self.caller_raw, self.did, self.caller.line_id, found.e164
            )
            self.channel.event("arrived", {"did": self.did, "line": self.caller.line_id})
            await self.channel.guard(self.ctx.ari.answer(self.id))
            record = await identify.caller_record(found)
        else:
            if self.caller.learn_number(self.caller_raw, self.ctx.settings.region):
                self.ctx.recorder_update(self.id, caller_e164=self.caller.e164)
            record = await identify.adopted_record()
        self._learn(record)
        if self.resume is not None:
            resumed = self._resume_wait(start)
            if resumed is None:
                return
            start = resumed
            ring = self.resume.ringing
            if ring is not None and await self.operators.ring_adopted(ring) is RingResult.ANSWERED:
                await self.walk.talk()
                return
        await self.walk.walk(start)

    def _learn(self, record: PatientRecord | None) -> None:
        """What route conditions and menus see of the caller from now on."""
        now = self.ctx.now()
        line = self.caller.line
        self.facts = caller_facts(self.rules, line, record, now)
        self.walk.visit = visit_soon(record, now, zone_of(self.rules, line))
        self.prompts.language = self.facts.language
        self.caller.assigned_operator = self.facts.assigned_operator

    def _resume_wait(self, routes: Target) -> Target | None:
        """Adopted after a restart: the caller goes on waiting for what they waited for,
        keeping their place, relaxed steps, budget left, answers and the operators
        already tried. None: nothing left to wait for (they asked to be called back)."""
        assert self.resume is not None and self.facts is not None
        rules, clock, waiting = self.rules, self.ctx.clock, self.waiting
        view = RulesView(rules.queues.keys(), rules.menus.keys(), rules.routes.keys())
        point = resume_point(self.resume.wait, self.ctx.now(), view)
        for menu, key in point.answers.items():
            self.facts = self.facts.with_answer(menu, key)
        self.caller.menu_path[:] = point.menu_path
        if point.place_s is not None:
            waiting.since = clock() - point.place_s
        if point.target is not None:  # else a new wait starts when the walk reaches one
            waiting.resumed_started = clock() - point.waited_s
            waiting.resumed_for = point.target
        data: dict[str, object] = {"state": "waiting", "tried": list(self.operators.tried)}
        if point.target is not None:
            data["for"] = target_to_json(point.target)
        data.update(waited_s=round(point.waited_s, 1), why=point.why or None)
        if point.place_s is not None:
            data["place_s"] = round(point.place_s, 1)
        self.channel.event("adopted", data)
        if point.kept_place:
            self.outcome = Outcome.CALLBACK  # their task is in the ledger already
            return None
        return point.target or routes

    # -- endings ----------------------------------------------------------------------------

    def _caller_gone(self, gone: CallerGone) -> None:
        self.channel.seat.leave()
        if gone.asterisk_shutdown:
            # A conversation Asterisk cut stays `answered` (it happened); the journey
            # says how it ended. A caller not yet through has `failed` and is a miss,
            # `no_operator` (nobody could take them; they did not give up): the callback
            # policy calls them back like any caller nobody could take.
            self.channel.event("asterisk_shutdown", {})
            if self.outcome is None:
                self.outcome = Outcome.FAILED
                self.walk.note_miss(MissReason.NO_OPERATOR, self.ctx.clock() - self.started_at)
            return
        if self.outcome is not None:
            return
        self.outcome = Outcome.ABANDONED
        menus = list(self.caller.menu_path)
        self.channel.event("abandoned", {"tried": list(self.operators.tried), "menus": menus})
        waited = self.ctx.clock() - self.started_at
        # The miss goes to the ledger even when the policy creates no task (misdials).
        where = "abandoned_in_ivr" if self.waiting.since is None else "abandoned"
        self.walk.note_miss(MissReason.ABANDONED, waited, where)

    async def _hand_to_fallback(self, reason: str) -> None:
        """ARI failed mid-call: give the caller to the dialplan's fallback, never drop them."""
        log.error("routing failed (%s); handing the call to the dialplan fallback", reason)
        self.channel.event("fallback", {"reason": reason})
        self.channel.seat.leave()
        self.outcome = self.outcome or Outcome.FAILED
        await self.bridge.leave_for_fallback()
        try:
            await self.ctx.ari.continue_in_dialplan(
                self.id, self.ctx.settings.fallback_context, self.did or "s", 1
            )
            self._handed_to_fallback = True
        except ari_errors.AriError as exc:
            log.error("fallback failed too: %s", exc)

    async def _finish(self) -> None:
        await self.operators.hang_up_all()
        if not self._handed_to_fallback:
            await self.channel.hang_up()
        self.operators.release_adopted_ring()
        outcome = self.outcome or Outcome.ABANDONED
        self.ctx.recorder_update(
            self.id, phase=Phase.ENDED.value, outcome=outcome.value, ended_at=self.ctx.now()
        )
        # What the IVR learned travels with the outcome (the screen pop reads the journey).
        learned = {"patient": self.caller.patient_id, "menus": list(self.caller.menu_path)}
        self.channel.event(
            "outcome", {"outcome": outcome.value, "operator": self.operator_id, **learned}
        )
        self.ctx.detach_all(self)
        self.channel.seat.decline_queued()
        log.info("call ended: %s (operator %s)", outcome.value, self.operator_id or "-")
        # Last: retried with backoff when Asterisk is slow, which must not hold the outcome.
        await self.bridge.delete()
