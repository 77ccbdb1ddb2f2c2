"""One inbound call, from arrival to its outcome, as one coroutine.

The coroutine reads only its own event queue (events for the caller's channel and the
operator legs it created, offers from the waiting room, a supervisor's moves), so it
reads like the call: answer -> identify -> walk the line's routes (menus, queues,
managers) -> outcome. The walk makes, one at a time and with real waiting, the
decisions `domain.journey.plan_journey` shows in `simulate`, through the same pure
functions (`evaluate_routes`, `plan_menu`, `eligible_operators`); each is journaled
with its reasons. What the call does at each step is in the parts it has (this
package's other modules).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from router.ari import errors as ari_errors
from router.domain.calendar import is_open
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, Phase, RingResult
from router.domain.journey import last_resort
from router.domain.menus import Menu, MenuOption, plan_menu
from router.domain.miss_target import MissTarget, aim
from router.domain.queue_steps import Queue, QueueStep
from router.domain.routing import (
    AssignedTarget,
    CallbackTarget,
    CallerFacts,
    MenuTarget,
    OperatorTarget,
    QueueTarget,
    RoutesTarget,
    SkillsTarget,
    Target,
    evaluate_routes,
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
from router.engine.inbound.menu_keys import ask_menu
from router.engine.inbound.operators import CallOperators
from router.engine.inbound.prompts import Prompts
from router.engine.inbound.waiting import Waiting, Wanted
from router.observability import logs
from router.storage.models import PatientRecord

log = logging.getLogger(__name__)

MAX_HOPS = 20  # as plan_journey: routes -> menu -> routes… loops are cut, not spun


class Done:
    """The walk reached an end (talked, promised a call back, played a message)."""


DONE = Done()
Step = Target | Done | None


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
        self.outcome: Outcome | None = None
        self.facts: CallerFacts | None = None
        self.visit: datetime | None = None  # their visit later today or tomorrow (local time)
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
        start: Target = RoutesTarget(line.routes) if line else self._last_resort()
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
                await self._talk()
                return
        await self._walk(start)

    def _learn(self, record: PatientRecord | None) -> None:
        """What route conditions and menus see of the caller from now on."""
        now = self.ctx.now()
        line = self.caller.line
        self.facts = caller_facts(self.rules, line, record, now)
        self.visit = visit_soon(record, now, zone_of(self.rules, line))
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

    # -- the walk through the line's routes ----------------------------------------------

    def _last_resort(self) -> Target:
        """Where a call goes when no route matched or a menu has no answer: any operator.
        A caller who presses nothing is never simply hung up on."""
        return last_resort(self.ctx.settings.unrouted_max_wait_s)

    async def _walk(self, start: Target) -> None:
        target: Target | None = start
        resorted = False
        for _ in range(MAX_HOPS):
            if target is None:
                if resorted:
                    await self._miss(MissReason.NO_OPERATOR, Outcome.NO_OPERATOR)
                    return
                resorted = True
                target = self._last_resort()
                self.channel.event("route", {"last_resort": True})
            step = await self._follow(target)
            if isinstance(step, Done):
                return
            target = step
        log.error("the routes and menus form a loop; call sent to any operator")
        self.channel.event("route", {"loop": True})
        if not isinstance(await self._follow(self._last_resort()), Done):
            await self._miss(MissReason.NO_OPERATOR, Outcome.NO_OPERATOR)

    async def _follow(self, target: Target) -> Step:
        assert self.facts is not None
        caller = self.caller
        assigned = self.facts.assigned_operator
        caller.miss_target = aim(caller.miss_target, target, line=caller.line_id, assigned=assigned)
        if isinstance(target, RoutesTarget):
            return self._routes(target.routes)
        if isinstance(target, MenuTarget):
            return await self._menu(self.rules.menus[target.menu])
        if isinstance(target, AssignedTarget):
            return await self._personal("assigned", assigned, target)
        if isinstance(target, OperatorTarget):
            return await self._personal("operator", target.operator, target)
        if isinstance(target, QueueTarget):
            return await self._queue(self.rules.queues[target.queue], target)
        if isinstance(target, SkillsTarget):
            name = "skills " + ("+".join(target.skills) or "any")
            step = QueueStep(0, target.skills, target.min_level)
            return await self._queue(Queue(name, (step,), max_wait_s=target.max_wait_s), target)
        if isinstance(target, CallbackTarget):
            return await self._callback(target)
        await self.endings.message(target.message)
        self.outcome = Outcome.MESSAGE
        return DONE

    def _routes(self, name: str) -> Target | None:
        assert self.facts is not None
        rules = self.rules
        decision = evaluate_routes(rules.routes.get(name, ()), self.facts, rules.calendars)
        skipped = [{"route": s.route, "why": list(s.reasons)} for s in decision.skipped]
        matched = decision.route.name if decision.route else None
        self.channel.event("route", {"list": name, "matched": matched, "skipped": skipped})
        return decision.route.then if decision.route else None

    async def _menu(self, menu: Menu) -> Target | None:
        assert self.facts is not None
        plan = plan_menu(menu, self.facts, self.rules.calendars)
        data: dict[str, object] = {
            "menu": menu.id,
            "action": plan.action,
            "hidden": list(plan.hidden),
        }
        option: MenuOption | None
        pressed: list[str] = []
        why: str = plan.action
        if plan.chosen is not None:
            option = plan.chosen
        elif plan.action == "empty":
            self.channel.event("menu", data)
            return None
        else:
            data["offered"] = [o.key for o in plan.options]
            option, pressed, why = await ask_menu(self.prompts, plan, self.visit)
        data.update(pressed=pressed, chosen=option.key if option else None, why=why)
        self.channel.event("menu", data)
        if option is None:
            return None
        self.caller.menu_path.append(f"{menu.id}:{option.key}")
        self.facts = self.facts.with_answer(menu.id, option.key)
        return option.then

    async def _personal(
        self, what: str, op_id: str | None, target: AssignedTarget | OperatorTarget
    ) -> Step:
        """One named operator with a wait budget; then the rules' `otherwise`."""
        if op_id is None or op_id in self.operators.tried or not self.ctx.board.has(op_id):
            why = "none" if op_id is None else f"{op_id} not on the board or already tried"
            self.channel.event("personal", {"what": what, "operator": op_id, "skipped": why})
            return target.otherwise
        wanted = Wanted.for_operator(what, op_id, target)
        if await self.waiting.seek(wanted):
            return await self._talk()
        return self.waiting.take_move() or target.otherwise

    async def _queue(self, queue: Queue, target: QueueTarget | SkillsTarget) -> Step:
        wanted = Wanted.for_queue(queue, target, self.rules)
        if await self.waiting.seek(wanted):
            return await self._talk()
        if (moved := self.waiting.take_move()) is not None:
            return moved
        if self.waiting.kept is not None:  # "keep my place, call me back"
            self.outcome = Outcome.CALLBACK
            await self.prompts.play(self.waiting.kept.promise, limit_s=30)
            return DONE
        if queue.at_max_wait is not None:
            return queue.at_max_wait
        waited = self.ctx.clock() - (self.waiting.since or self.started_at)
        await self._miss(MissReason.MAX_WAIT, Outcome.NO_OPERATOR, waited)
        return DONE

    async def _talk(self) -> Done:
        leg = self.operators.operator_channel
        assert leg is not None
        await self.operators.connect(leg)
        self.outcome = Outcome.ANSWERED
        await self.operators.talk(leg)
        return DONE

    async def _callback(self, target: CallbackTarget) -> Done:
        assert self.facts is not None
        await self.bridge.unhold()
        if target.message:
            await self.prompts.play([target.message])
        reason = MissReason.REQUESTED
        calendar = self.rules.calendars.get(self.facts.calendar or "")
        if calendar is not None and not is_open(calendar, self.facts.now).open:
            reason = MissReason.AFTER_HOURS
        outcome = Outcome.CALLBACK
        if target.voicemail:
            outcome = Outcome.VOICEMAIL
            await self.endings.voicemail()
        await self._miss(reason, outcome)
        return DONE

    async def _miss(self, reason: MissReason, outcome: Outcome, waited_s: float = 0.0) -> None:
        """A call no operator answered: the callback policy decides whether it is a task."""
        self.outcome = outcome
        self._note_miss(reason, waited_s)  # first: the ledger has it even if they hang up now
        if outcome is Outcome.NO_OPERATOR:
            await self.endings.nobody_available()

    def _note_miss(self, reason: MissReason, waited_s: float, label: str | None = None) -> None:
        self.ctx.record_miss(
            self.caller.miss(),
            reason,
            waited_s,
            label=label,
            rules=self.rules,
            preferred_operator=self.caller.assigned_operator,
        )

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
                self._note_miss(MissReason.NO_OPERATOR, self.ctx.clock() - self.started_at)
            return
        if self.outcome is not None:
            return
        self.outcome = Outcome.ABANDONED
        menus = list(self.caller.menu_path)
        self.channel.event("abandoned", {"tried": list(self.operators.tried), "menus": menus})
        waited = self.ctx.clock() - self.started_at
        # The miss goes to the ledger even when the policy creates no task (misdials).
        where = "abandoned_in_ivr" if self.waiting.since is None else "abandoned"
        self._note_miss(MissReason.ABANDONED, waited, where)

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
