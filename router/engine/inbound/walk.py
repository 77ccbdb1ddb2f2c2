"""The walk through a line's routes, one target at a time: route lists, menus, a named
operator, queues, a callback or a message, until the call reaches an end.

The walk makes, with real waiting, the decisions `domain.journey.plan_journey` shows in
`simulate`, through the same pure functions (`evaluate_routes`, `plan_menu`, `aim`); each
is journaled with its reasons. A part of `InboundCall` (call.py), like the parts it
uses for the waiting, ringing and talking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from router.config.rules import Rules
from router.domain.calendar import is_open
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome
from router.domain.journey import last_resort
from router.domain.menus import Menu, MenuOption, plan_menu
from router.domain.miss_target import aim
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
from router.engine.context import CallContext
from router.engine.inbound.bridge import CallBridge
from router.engine.inbound.caller import Caller
from router.engine.inbound.channel import CallerChannel
from router.engine.inbound.endings import Endings
from router.engine.inbound.menu_keys import ask_menu
from router.engine.inbound.operators import CallOperators
from router.engine.inbound.prompts import Prompts
from router.engine.inbound.waiting import Waiting, Wanted

log = logging.getLogger(__name__)

MAX_HOPS = 20  # as plan_journey: routes -> menu -> routes… loops are cut, not spun


class Done:
    """The walk reached an end (talked, promised a call back, played a message)."""


DONE = Done()
Step = Target | Done | None


@dataclass
class Walk:
    """The call's walk: its parts, and what the walk learns on the way (the caller's
    facts as menus answer them, the outcome when it reaches an end)."""

    ctx: CallContext
    rules: Rules
    caller: Caller
    channel: CallerChannel
    prompts: Prompts
    bridge: CallBridge
    operators: CallOperators
    waiting: Waiting
    endings: Endings
    started_at: float
    facts: CallerFacts | None = None
    visit: datetime | None = None  # their visit later today or tomorrow (local time)
    outcome: Outcome | None = None

    def last_resort_target(self) -> Target:
        """Where a call goes when no route matched or a menu has no answer: any operator.
        A caller who presses nothing is never simply hung up on."""
        return last_resort(self.ctx.settings.unrouted_max_wait_s)

    async def walk(self, start: Target) -> None:
        """Follow targets from `start` until the call reaches an end."""
        target: Target | None = start
        resorted = False
        for _ in range(MAX_HOPS):
            if target is None:
                if resorted:
                    await self._miss(MissReason.NO_OPERATOR, Outcome.NO_OPERATOR)
                    return
                resorted = True
                target = self.last_resort_target()
                self.channel.event("route", {"last_resort": True})
            step = await self._follow(target)
            if isinstance(step, Done):
                return
            target = step
        log.error("the routes and menus form a loop; call sent to any operator")
        self.channel.event("route", {"loop": True})
        if not isinstance(await self._follow(self.last_resort_target()), Done):
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
            return await self.talk()
        return self.waiting.take_move() or target.otherwise

    async def _queue(self, queue: Queue, target: QueueTarget | SkillsTarget) -> Step:
        wanted = Wanted.for_queue(queue, target, self.rules)
        if await self.waiting.seek(wanted):
            return await self.talk()
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

    async def talk(self) -> Done:
        """The operator offered answered: connect and talk until either hangs up."""
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
        self.note_miss(reason, waited_s)  # first: the ledger has it even if they hang up now
        if outcome is Outcome.NO_OPERATOR:
            await self.endings.nobody_available()

    def note_miss(self, reason: MissReason, waited_s: float, label: str | None = None) -> None:
        self.ctx.record_miss(
            self.caller.miss(),
            reason,
            waited_s,
            label=label,
            rules=self.rules,
            preferred_operator=self.caller.assigned_operator,
        )


__all__ = ["DONE", "MAX_HOPS", "Done", "Step", "Walk"]
