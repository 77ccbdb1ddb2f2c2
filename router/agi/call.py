"""One AGI-mode call: identify the caller, walk the line's routes (playing a menu when
the caller must choose), and hand the decision back to the dialplan.

The decisions are ARI mode's, through the same functions (`evaluate_routes`, `plan_menu`,
`caller_facts`, the shared-phone choice, `record_miss`), and the journey has the same
steps (`arrived`, `identified`, `route`, `menu`, `miss`) plus `agi_decision`. What happens
after (rings, waits, answers, abandons) comes from app_queue's AMI events.
"""

from __future__ import annotations

import logging
from datetime import datetime

from router.agi.channel import AgiChannel, AgiHangup
from router.agi.decision import (
    AGI_APP,
    Decision,
    for_callback,
    for_message,
    for_operator,
    for_queue,
    is_after_hours,
)
from router.agi.media import ask_key, run_menu
from router.agi.server import Handler
from router.ami.records import AmiCalls, Handover
from router.config.rules import Rules
from router.config.rules_build import Line
from router.crm.patients import patients_by_phone
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, Phase
from router.domain.journey import last_resort
from router.domain.menus import Menu, MenuOption, plan_menu
from router.domain.miss_target import MissTarget, aim
from router.domain.phone import normalise_caller
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
from router.domain.shared_phone import choice_prompts, chosen_patient, patient_choices
from router.engine.call_state import MissFacts
from router.engine.context import CallContext
from router.engine.facts import caller_facts, family_record, visit_soon, zone_of
from router.observability.logs import call_id_var
from router.storage.journal import NewCall
from router.storage.models import CallRow, PatientRecord

log = logging.getLogger(__name__)

MAX_HOPS = 20


class AgiCall:
    def __init__(
        self, ctx: CallContext, channel: AgiChannel, follower: AmiCalls | None = None
    ) -> None:
        self.ctx, self.channel = ctx, channel
        self.follower = follower
        request = channel.request
        self.id = request.uniqueid
        self.did = request.extension
        self.rules: Rules = ctx.rules()
        self.line: Line | None = self.rules.line_for(self.did) if self.did else None
        self.patient_id: str | None = None
        self.language = self.line.language if self.line else "ru"
        self.visit: datetime | None = None
        self.miss_target: MissTarget | None = None
        self.started = ctx.clock()
        self.caller_e164: str | None = None
        self.facts: CallerFacts
        self.assigned: str | None = None  # the patient's manager, once looked up
        self._spoken: str | None = None  # the channel's language as last set by us
        self._followed = False  # AMI follows the call (_run_followed)

    async def run(self) -> None:
        call_id_var.set(self.id)
        follower = self.follower
        if follower is None:
            await self._run_alone()
            return
        # While the session runs it settles the call itself (or hands it to the follower):
        # a resync at an AMI login meanwhile must not adopt it too.
        follower.session_started(self.id)
        try:
            if follower.connected():
                await self._run_followed(follower)
            else:
                await self._run_alone()
        finally:
            follower.session_ended(self.id)

    async def _run_alone(self) -> None:
        """Without AMI (or while it is down when the session starts): the session records
        the call itself, as far as it can see it."""
        try:
            # The first word with Asterisk proves the channel still waits for us: a session
            # read late (a router frozen past CR_AGI_TIMEOUT) finds it gone, and the call
            # was served by the plain queue (its AstDB record journals it, if answered:
            # router/engine/fallback_served.py). Without AMI nothing tells us more.
            await self.channel.set_variable("CR_CALL", self.id)
        except AgiHangup:
            log.warning("AGI session %s: the channel went on without the router", self.id)
            return
        self._create()
        try:
            decision = await self._decide()
        except AgiHangup:
            self._gone()
            raise
        try:
            await self._hand_back(decision)
        except AgiHangup:
            # gone before the decision reached it (a call back or a message has its
            # outcome already): as a hangup while deciding, not a call left open
            if decision.target in ("queue", "operator"):
                self._gone()
            raise
        follower = self.follower
        dialplan_goes_on = decision.target in ("queue", "operator")
        if dialplan_goes_on and follower is not None and follower.connected():
            # AMI came back during the session (whose resync left the call to it): the
            # follower takes the call on from its decision, to its outcome.
            follower.begin(self._handover(), deciding=False)

    async def _run_followed(self, follower: AmiCalls) -> None:
        """With AMI: the call is followed from the start, and its outcome is what the
        channel's events say (router/ami/records.py). A session that finds its channel
        gone or moved on (the caller hung up, or `CR_AGI_TIMEOUT` sent the call to the
        plain queue: from here the two look the same) records nothing more itself."""
        self._create()
        follower.begin(self._handover())
        self._followed = True
        try:
            await self.channel.set_variable("CR_CALL", self.id)
        except AgiHangup:
            log.warning("AGI session %s: the channel was gone when read; AMI tells", self.id)
            follower.check_gone(self.id)
            return
        try:
            decision = await self._decide()
        except AgiHangup:
            self._gone_unheard(follower)
            raise
        try:
            await self._hand_back(decision)
        except AgiHangup:
            self._event("agi_unsent", decision.describe())
            if decision.target in ("queue", "operator"):
                self._gone_unheard(follower)
            raise
        if decision.target in ("queue", "operator"):
            follower.decided(self._handover())

    def _gone_unheard(self, follower: AmiCalls) -> None:
        """The channel is gone while AMI is away: no Hangup will reach the follower, so
        the session records the hang-up itself, as without AMI (a call the follower no
        longer tracks has its outcome already)."""
        if not follower.connected() and follower.forget(self.id):
            self._gone()

    def _settle(self) -> None:
        """The session is about to write the call's outcome itself (a callback or a
        message): the follower lets the call go first, or a Hangup read meanwhile would
        write a second outcome and miss. One read already (the follower no longer tracks
        the call) ended it: the session stops there."""
        if self._followed and self.follower is not None and not self.follower.forget(self.id):
            raise AgiHangup("the call ended (its Hangup was read) before its decision")

    # -- arrival and the caller --------------------------------------------------------

    def _create(self) -> None:
        request = self.channel.request
        area = self.line.area_code if self.line else None
        caller = normalise_caller(request.callerid, region=self.ctx.settings.region, area_code=area)
        self.caller_status, self.caller_e164 = caller.status.value, caller.e164
        row = CallRow(
            id=self.id,
            app=AGI_APP,
            caller_raw=request.callerid[:80],
            did=self.did[:40],
            started_at=self.ctx.now(),
            caller_e164=caller.e164,
            phase=Phase.ROUTING.value,
            line=self.line.id if self.line else None,
            rules_version=self.ctx.rules_version(),
        )
        self.ctx.recorder.record(NewCall(row))
        line = self.line.id if self.line else None
        self._event("arrived", {"did": self.did, "line": line, "mode": "agi"})

    async def _decide(self) -> Decision:
        record = await self._identify(self.caller_e164, self.caller_status)
        now = self.ctx.now()
        self.facts = facts = caller_facts(self.rules, self.line, record, now)
        self.assigned = facts.assigned_operator
        self.visit = visit_soon(record, now, zone_of(self.rules, self.line))
        self.language = facts.language
        start: Target = RoutesTarget(self.line.routes) if self.line else self._resort()
        return await self._walk(start)

    async def _identify(self, e164: str | None, status: str) -> PatientRecord | None:
        data: dict[str, object] = {"status": status, "number": e164}
        chosen: PatientRecord | None = None
        if e164 is not None:
            ctx = self.ctx
            timeout_s = ctx.settings.lookup_timeout_s
            patients = await patients_by_phone(e164, ctx.store.patients, ctx.crm, timeout_s, data)
            if patients:
                chosen = await self._choose(patients, data)
                data.update(patient=chosen.id, assigned_operator=chosen.assigned_operator_id)
                data["tags"] = list(chosen.tags)
                if chosen.id != "family":
                    self.patient_id = chosen.id
                    self.ctx.recorder_update(self.id, patient_id=chosen.id)
        self._event("identified", data)
        self._tell()
        return chosen

    async def _choose(
        self, patients: list[PatientRecord], data: dict[str, object]
    ) -> PatientRecord:
        """One phone, several patients: ask which one (no answer: the family)."""
        if len(patients) == 1:
            return patients[0]
        offered = patient_choices(patients)
        await self._speak()
        settings = self.ctx.settings
        await self._extend(60 + settings.shared_phone_timeout_s)
        prompts = choice_prompts(settings.shared_phone_prompt, offered)
        key = await ask_key(self.channel, prompts, settings.shared_phone_timeout_s)
        data["choice_key"] = key
        return chosen_patient(offered, key) or family_record(patients)

    # -- the walk ------------------------------------------------------------------------

    def _resort(self) -> Target:
        return last_resort(self.ctx.settings.unrouted_max_wait_s)

    def _fallback(self) -> Decision:
        resort = self._resort()
        assert isinstance(resort, SkillsTarget)
        decision = for_queue(resort, self.rules)
        return Decision("queue", decision.queue, message=self.ctx.settings.no_operator_prompt)

    async def _walk(self, start: Target) -> Decision:
        target: Target | None = start
        resorted = False
        for _ in range(MAX_HOPS):
            if target is None:
                if resorted:
                    break
                resorted = True
                self._event("route", {"last_resort": True})
                target = self._resort()
            self.miss_target = aim(
                self.miss_target,
                target,
                line=self.facts.line,
                assigned=self.facts.assigned_operator,
            )
            self._tell()
            step = await self._follow(target)
            if isinstance(step, Decision):
                return step
            target = step
        else:
            log.error("the routes and menus form a loop; call sent to any operator")
            self._event("route", {"loop": True})
        return self._fallback()

    async def _follow(self, target: Target) -> Target | Decision | None:
        prompt = self.ctx.settings.no_operator_prompt
        if isinstance(target, RoutesTarget):
            return self._routes(target.routes)
        if isinstance(target, MenuTarget):
            return await self._menu(self.rules.menus[target.menu])
        if isinstance(target, AssignedTarget | OperatorTarget):
            return self._personal(target)
        if isinstance(target, QueueTarget | SkillsTarget):
            return for_queue(target, self.rules)
        self._settle()
        if isinstance(target, CallbackTarget):
            self._promise(target)
            return for_callback(target, prompt)
        self._end(Outcome.MESSAGE)
        return for_message(target, prompt)

    def _routes(self, name: str) -> Target | None:
        decision = evaluate_routes(
            self.rules.routes.get(name, ()), self.facts, self.rules.calendars
        )
        self._event(
            "route",
            {
                "list": name,
                "matched": decision.route.name if decision.route else None,
                "skipped": [{"route": s.route, "why": list(s.reasons)} for s in decision.skipped],
            },
        )
        return decision.route.then if decision.route else None

    async def _menu(self, menu: Menu) -> Target | None:
        plan = plan_menu(menu, self.facts, self.rules.calendars)
        data: dict[str, object] = {
            "menu": menu.id,
            "action": plan.action,
            "hidden": list(plan.hidden),
        }
        pressed: list[str] = []
        why: str = plan.action
        option: MenuOption | None
        if plan.chosen is not None:
            option = plan.chosen
        elif plan.action == "empty":
            self._event("menu", data)
            return None
        else:
            data["offered"] = [o.key for o in plan.options]
            await self._speak()
            option, pressed, why = await run_menu(self.channel, plan, self.visit, self._extend)
        data.update(pressed=pressed, chosen=option.key if option else None, why=why)
        self._event("menu", data)
        if option is None:
            return None
        self.facts = self.facts.with_answer(menu.id, option.key)
        return option.then

    def _personal(self, target: AssignedTarget | OperatorTarget) -> Target | Decision:
        what = "assigned" if isinstance(target, AssignedTarget) else "operator"
        op_id = (
            self.facts.assigned_operator if isinstance(target, AssignedTarget) else target.operator
        )
        if op_id is None or self.rules.operator(op_id) is None:
            why = "none" if op_id is None else f"{op_id} is not an operator here"
            self._event("personal", {"what": what, "operator": op_id, "skipped": why})
            return target.otherwise
        return for_operator(op_id, target, self.rules, self.facts, self._fallback())

    def _promise(self, target: CallbackTarget) -> None:
        """A callback target: the task is in the ledger before the caller hears the promise."""
        reason = (
            MissReason.AFTER_HOURS
            if is_after_hours(self.rules, self.facts)
            else MissReason.REQUESTED
        )
        self._end(Outcome.VOICEMAIL if target.voicemail else Outcome.CALLBACK)
        self._miss(reason, 0.0)

    # -- journey -------------------------------------------------------------------------

    def _miss(self, reason: MissReason, waited_s: float, label: str | None = None) -> None:
        line = self.line.id if self.line else None
        miss = MissFacts(self.id, self.caller_e164, self.patient_id, line, self.miss_target)
        self.ctx.record_miss(
            miss,
            reason,
            waited_s,
            label=label,
            rules=self.rules,
            preferred_operator=self.assigned,
        )

    def _end(self, outcome: Outcome) -> None:
        self.ctx.recorder_update(
            self.id, phase=Phase.ENDED.value, outcome=outcome.value, ended_at=self.ctx.now()
        )
        self._event("outcome", {"outcome": outcome.value, "patient": self.patient_id})

    def _gone(self) -> None:
        """The caller hung up while the router was still deciding (in a menu)."""
        self._event("abandoned", {"in": "agi"})
        self._end(Outcome.ABANDONED)
        waited = self.ctx.clock() - self.started
        self._miss(MissReason.ABANDONED, waited, "abandoned_in_ivr")

    def _handover(self) -> Handover:
        """What the call's miss needs, as far as the session knows it."""
        line = self.line.id if self.line else None
        return Handover(
            self.id,
            self.caller_e164,
            self.patient_id,
            line,
            self.miss_target,
            self.assigned,
            self.rules,
        )

    def _tell(self) -> None:
        """The AMI follower's copy, for a miss should the caller hang up from here."""
        if self.follower is not None:
            self.follower.update(self._handover())

    def _event(self, kind: str, data: dict[str, object]) -> None:
        self.ctx.recorder_event(self.id, kind, data)

    async def _speak(self) -> None:
        """The caller's language on the channel before the router plays anything; a call
        decided without a prompt gets it with the decision (one round trip fewer)."""
        if self._spoken != self.language:
            await self.channel.set_variable("CHANNEL(language)", self.language)
            self._spoken = self.language

    async def _extend(self, seconds: float) -> None:
        """Push the dialplan's deadline: a router that stops talking is cut off then."""
        await self.channel.set_variable("TIMEOUT(absolute)", str(int(seconds)))

    async def _hand_back(self, decision: Decision) -> None:
        values = decision.variables(
            call_id=self.id, language=self.language, patient=self.patient_id
        )
        del values["CR_CALL"]  # set once, first thing (run)
        if self._spoken != self.language:
            values["CHANNEL(language)"] = self.language
        # One round trip for the whole decision (EXEC MSet) where the values allow. A
        # channel gone meanwhile (the caller left, or CR_AGI_TIMEOUT sent the call on to
        # the plain queue) raises AgiHangup here.
        await self.channel.set_variables(values)
        self._event("agi_decision", decision.describe())
        log.info("AGI decision: %s", decision.describe())


def agi_routes(ctx: CallContext, follower: AmiCalls | None = None) -> dict[str, Handler]:
    """The FastAGI scripts the router serves: `route` decides an inbound call;
    `follower` (AGI mode with AMI) follows every call from its start to its outcome."""

    async def route(channel: AgiChannel) -> None:
        await AgiCall(ctx, channel, follower).run()

    return {"route": route}
