"""The live walk through a line's routes, menus and queues.

It makes, one at a time and with real waiting, the decisions `domain.journey.plan_journey`
shows in `simulate`, through the same pure functions (`evaluate_routes`, `plan_menu`,
`eligible_operators`, `decide_callback`). Every decision is journaled with its reasons.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from router.ari import errors as ari_errors
from router.ari.events import RecordingEnded
from router.domain.calendar import is_open
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome
from router.domain.dispatch import PERSONAL
from router.domain.journey import last_resort
from router.domain.menus import Menu, MenuOption, plan_menu
from router.domain.miss_target import aim
from router.domain.queue_steps import Queue, QueueStep, eligible_operators
from router.domain.routing import (
    AssignedTarget,
    CallbackTarget,
    CallerFacts,
    HangUpTarget,
    MenuTarget,
    OperatorTarget,
    QueueTarget,
    RoutesTarget,
    SkillsTarget,
    Target,
    evaluate_routes,
)
from router.engine.call_keep_place import CallKeepPlace
from router.engine.call_operators import Wanted
from router.engine.call_state import CallerGone, MissFacts

log = logging.getLogger(__name__)

VOICEMAIL_MAX_S = 120
# "Nobody can take your call" is a short prompt; one that never reports its end does not
# hold the hang-up longer (a missing file reports `failed` at once).
NO_OPERATOR_PROMPT_LIMIT_S = 15.0
MAX_HOPS = 20  # as plan_journey: routes -> menu -> routes… loops are cut, not spun


class Done:
    """The walk reached an end (talked, promised a call back, played a message)."""


DONE = Done()
Step = Target | Done | None


class CallWalk(CallKeepPlace):
    facts: CallerFacts

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
                self._event("route", {"last_resort": True})
            step = await self._follow(target)
            if isinstance(step, Done):
                return
            target = step
        log.error("the routes and menus form a loop; call sent to any operator")
        self._event("route", {"loop": True})
        if not isinstance(await self._follow(self._last_resort()), Done):
            await self._miss(MissReason.NO_OPERATOR, Outcome.NO_OPERATOR)

    async def _follow(self, target: Target) -> Step:
        line = self.line.id if self.line else None
        assigned = self.facts.assigned_operator
        self.miss_target = aim(self.miss_target, target, line=line, assigned=assigned)
        if isinstance(target, RoutesTarget):
            return self._routes(target.routes)
        if isinstance(target, MenuTarget):
            return await self._menu(self.rules.menus[target.menu])
        if isinstance(target, AssignedTarget):
            return await self._personal("assigned", self.facts.assigned_operator, target)
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
        await self._message(target)
        return DONE

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
        option: MenuOption | None
        pressed: list[str] = []
        why: str = plan.action
        if plan.chosen is not None:
            option = plan.chosen
        elif plan.action == "empty":
            self._event("menu", data)
            return None
        else:
            data["offered"] = [o.key for o in plan.options]
            option, pressed, why = await self._run_menu(plan)
        data.update(pressed=pressed, chosen=option.key if option else None, why=why)
        self._event("menu", data)
        if option is None:
            return None
        self.menu_path.append(f"{menu.id}:{option.key}")
        self.facts = self.facts.with_answer(menu.id, option.key)
        return option.then

    async def _personal(
        self, what: str, op_id: str | None, target: AssignedTarget | OperatorTarget
    ) -> Step:
        """One named operator with a wait budget; then the rules' `otherwise`."""
        if op_id is None or op_id in self.tried or not self.ctx.board.has(op_id):
            why = "none" if op_id is None else f"{op_id} not on the board or already tried"
            self._event("personal", {"what": what, "operator": op_id, "skipped": why})
            return target.otherwise
        mine = frozenset({op_id})
        wanted = Wanted(
            f"{what} {op_id}", PERSONAL, target.wait_s, lambda _waited: mine, target=target
        )
        if await self._seek(wanted):
            return await self._talk_then_done()
        return self._take_move() or target.otherwise

    async def _queue(self, queue: Queue, target: QueueTarget | SkillsTarget) -> Step:
        wanted = Wanted(
            f"queue {queue.id}",
            queue.priority,
            queue.max_wait_s,
            self._eligibility(queue),
            tuple(s.after_s for s in queue.steps[1:]),
            queue.announce_every_s,
            queue.announcement,
            queue.strategy,
            queue.skills,
            queue.wrap_up_s,
            offers_callback=True,
            target=target,
        )
        if await self._seek(wanted):
            return await self._talk_then_done()
        if (moved := self._take_move()) is not None:
            return moved
        if self.left_to_call_back:
            return DONE
        if queue.at_max_wait is not None:
            return queue.at_max_wait
        waited = self.ctx.clock() - (self.waiting_since or self.started_at)
        await self._miss(MissReason.MAX_WAIT, Outcome.NO_OPERATOR, waited)
        return DONE

    def _eligibility(self, queue: Queue) -> Callable[[float], frozenset[str]]:
        """Eligible operator ids by seconds waited, computed once per step reached."""
        cache: dict[int, frozenset[str]] = {}
        rules = self.rules

        def eligible_at(waited: float) -> frozenset[str]:
            reached = sum(1 for s in queue.steps if s.after_s <= waited)
            if reached not in cache:
                ops = eligible_operators(queue, waited, rules.operators, rules.queues)
                cache[reached] = frozenset(op.id for op in ops)
            return cache[reached]

        return eligible_at

    async def _talk_then_done(self) -> Done:
        assert self.operator_channel is not None
        await self._talk(self.operator_channel)
        return DONE

    async def _callback(self, target: CallbackTarget) -> Done:
        await self._unhold()
        if target.message:
            await self._play([target.message])
        reason = MissReason.REQUESTED
        calendar = self.rules.calendars.get(self.facts.calendar or "")
        if calendar is not None and not is_open(calendar, self.facts.now).open:
            reason = MissReason.AFTER_HOURS
        outcome = Outcome.CALLBACK
        if target.voicemail:
            outcome = Outcome.VOICEMAIL
            await self._record_voicemail()
        await self._miss(reason, outcome)
        return DONE

    async def _message(self, target: HangUpTarget) -> None:
        await self._unhold()
        # `hang_up:` with nothing under it plays the default message (docs/rules.md).
        message = target.message or self.ctx.settings.no_operator_prompt
        await self._play([message])
        self.outcome = Outcome.MESSAGE
        self._event("message", {"prompt": message})

    async def _record_voicemail(self) -> None:
        recording = f"voicemail-{self.id}"
        try:
            await self._guard(
                self.ctx.ari.record(self.id, recording, max_duration_s=VOICEMAIL_MAX_S, beep=True)
            )
        except ari_errors.AriError as exc:  # a failed recording still leaves the task;
            # a caller already gone (404) is CallerGone and has abandoned, not left a message
            log.warning("voicemail recording failed: %s", exc)
            return
        self._event("voicemail", {"recording": recording})
        try:
            await self._wait_recording(recording)
        except CallerGone as gone:
            if gone.asterisk_shutdown:
                raise
            # Hanging up is how a caller ends their message (Asterisk then finishes the
            # recording): the message was left, the call ends as voicemail.
            self._event("voicemail_end", {"by": "caller"})

    async def _wait_recording(self, name: str) -> None:
        deadline = self.ctx.clock() + VOICEMAIL_MAX_S + 10
        while (left := deadline - self.ctx.clock()) > 0:
            event = await self._next(left)
            if isinstance(event, RecordingEnded) and event.name == name:
                self._event("voicemail_end", {"state": event.state, "s": event.duration_s})
                return
            if event is not None:
                self._decline_offer(event)

    async def _miss(self, reason: MissReason, outcome: Outcome, waited_s: float = 0.0) -> None:
        """A call no operator answered: the callback policy decides whether it is a task."""
        self.outcome = outcome
        self._note_miss(reason, waited_s)  # first: the ledger has it even if they hang up now
        if outcome is Outcome.NO_OPERATOR:
            await self._say_nobody_available()

    async def _say_nobody_available(self) -> None:
        """The caller hears why before the hang-up (docs/rules.md: a caller is never simply
        hung up on); a prompt Asterisk refuses costs nothing more than a log line."""
        await self._unhold()
        prompt = self.ctx.settings.no_operator_prompt
        try:
            await self._play([prompt], limit_s=NO_OPERATOR_PROMPT_LIMIT_S)
        except ari_errors.AriError as exc:  # a caller gone (404) is CallerGone, not this
            log.warning("cannot play %s before the hang-up: %s", prompt, exc)

    def _note_miss(self, reason: MissReason, waited_s: float, label: str | None = None) -> None:
        line = self.line.id if self.line else None
        miss = MissFacts(self.id, self.caller_e164, self.patient_id, line, self.miss_target)
        self.ctx.record_miss(
            miss,
            reason,
            waited_s,
            label=label,
            rules=self.rules,
            preferred_operator=self.assigned_operator,
        )
