"""A call's path through routes, menus and queues, worked out without waiting.

`plan_journey` follows targets from a line's route list to an outcome, recording each
decision and its reason. `clinic-router simulate` prints it; the live engine makes the
same decisions one at a time (with real waiting) through the same functions it calls:
`evaluate_routes`, `plan_menu`/`answer`, `eligible_operators`, `choose_operators`,
`decide_callback`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from router.domain.calendar import Calendar, is_open
from router.domain.callback_policy import CallbackPolicy, MissReason, decide_callback
from router.domain.menus import Menu, answer, plan_menu
from router.domain.operators import Operator, OperatorStatus, Presence
from router.domain.queue_steps import Queue, QueueStep, eligible_operators
from router.domain.routing import (
    AssignedTarget,
    CallbackTarget,
    CallerFacts,
    HangUpTarget,
    MenuTarget,
    OperatorTarget,
    QueueTarget,
    Route,
    RoutesTarget,
    SkillsTarget,
    Target,
    evaluate_routes,
)
from router.domain.selection import choose_operators

MAX_HOPS = 20  # routes -> menu -> routes… loops are cut here rather than spinning


def last_resort(wait_s: int) -> SkillsTarget:
    """Where the live router sends a call nothing placed (a number no line lists, no route
    matched, a menu with no answer, a loop cut): any operator, waiting up to `wait_s`
    (`routing.unrouted_max_wait_s`). A caller is never simply hung up on."""
    return SkillsTarget((), 1, max_wait_s=wait_s)


@dataclass(frozen=True, slots=True)
class RoutingWorld:
    """The routing configuration the journey runs in (a rule set's routing sections)."""

    routes: Mapping[str, tuple[Route, ...]]
    menus: Mapping[str, Menu]
    queues: Mapping[str, Queue]
    calendars: Mapping[str, Calendar]
    operators: tuple[Operator, ...]
    callback: CallbackPolicy


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # route | menu | assigned | queue | callback | hang_up | end
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Journey:
    steps: tuple[Step, ...]
    outcome: str  # connect | callback | voicemail | hang_up | no_operator
    operator: str | None = None  # who would be rung first, for `connect`
    callback_task: bool = False


class _Walk:
    def __init__(
        self,
        world: RoutingWorld,
        facts: CallerFacts,
        statuses: Mapping[str, OperatorStatus],
        presses: Sequence[str | None],
        has_number: bool,
        unrouted_max_wait_s: int,
    ) -> None:
        self.world, self.facts, self.statuses = world, facts, statuses
        self.has_number = has_number
        self.presses = list(presses)
        self.steps: list[Step] = []
        self.unrouted_wait = unrouted_max_wait_s

    def add(self, kind: str, text: str, **data: Any) -> None:
        self.steps.append(Step(kind, text, data))

    def done(self, outcome: str, operator: str | None = None, task: bool = False) -> Journey:
        return Journey(tuple(self.steps), outcome, operator, task)

    def run(self, start: Target) -> Journey:
        """As the live router's walk: what nothing placed goes to the last resort once."""
        target: Target | None = start
        resorted = False
        for _ in range(MAX_HOPS):
            if target is None:
                if resorted:
                    return self.miss(MissReason.NO_OPERATOR, "no_operator")
                resorted = True
                self.add(
                    "route", f"nothing placed the call: {self.resort_text()}", last_resort=True
                )
                target = last_resort(self.unrouted_wait)
            result = self.follow(target)
            if isinstance(result, Journey):
                return result
            target = result
        self.add(
            "end",
            f"stopped after {MAX_HOPS} steps: the routes and menus form a loop;"
            f" {self.resort_text()}",
            last_resort=True,
        )
        result = self.follow(last_resort(self.unrouted_wait))
        if isinstance(result, Journey):
            return result
        return self.miss(MissReason.NO_OPERATOR, "no_operator")

    def resort_text(self) -> str:
        return (
            "the last resort, any operator, waiting up to"
            f" {self.unrouted_wait} s (routing.unrouted_max_wait_s)"
        )

    def follow(self, target: Target) -> Target | Journey | None:
        if isinstance(target, RoutesTarget):
            return self.routes(target.routes)
        if isinstance(target, MenuTarget):
            return self.menu(self.world.menus[target.menu])
        if isinstance(target, AssignedTarget):
            return self.operator("assigned operator", self.facts.assigned_operator, target)
        if isinstance(target, OperatorTarget):
            return self.operator("operator", target.operator, target)
        if isinstance(target, QueueTarget):
            return self.queue(self.world.queues[target.queue])
        if isinstance(target, SkillsTarget):
            step = QueueStep(0, target.skills, target.min_level)
            name = "skills " + ("+".join(target.skills) or "any")  # as the live journal
            return self.queue(Queue(name, (step,), max_wait_s=target.max_wait_s))
        if isinstance(target, CallbackTarget):
            return self.callback(target)
        assert isinstance(target, HangUpTarget)
        self.add("hang_up", f"play {target.message or 'a message'} and hang up")
        return self.done("hang_up")

    def routes(self, name: str) -> Target | None:
        decision = evaluate_routes(
            self.world.routes.get(name, ()), self.facts, self.world.calendars
        )
        for skipped in decision.skipped:
            self.add(
                "route",
                f"route {name}/{skipped.route}: no, {'; '.join(skipped.reasons)}",
                route=skipped.route,
                matched=False,
                reasons=list(skipped.reasons),
            )
        if decision.route is None:
            self.add("route", f"no route in '{name}' matched", matched=None)
            return None
        route = decision.route
        self.add(
            "route",
            f"route {name}/{route.name}: matched{self.hours_note(route)}",
            route=route.name,
            matched=True,
        )
        return route.then

    def hours_note(self, route: Route) -> str:
        """Why an hours condition held: the admin wants to see which day rule applied."""
        if route.when.hours is None:
            return ""
        calendar = self.world.calendars.get(route.when.calendar or self.facts.calendar or "")
        return f" ({calendar.id} {is_open(calendar, self.facts.now).explain()})" if calendar else ""

    def menu(self, menu: Menu) -> Target | None:
        plan = plan_menu(menu, self.facts, self.world.calendars)
        hidden = f" (hidden for this caller: {', '.join(plan.hidden)})" if plan.hidden else ""
        if plan.chosen is not None:
            why = "its condition holds" if plan.action == "auto" else "the only option left"
            self.add(
                "menu",
                f"menu {menu.id}: not played, option {plan.chosen.key}"
                f" ({plan.chosen.label}) taken: {why}{hidden}",
                menu=menu.id,
                action=plan.action,
                key=plan.chosen.key,
            )
            self.facts = self.facts.with_answer(menu.id, plan.chosen.key)
            return plan.chosen.then
        if plan.action == "empty":
            self.add(
                "menu",
                f"menu {menu.id}: every option is hidden{hidden}",
                menu=menu.id,
                action="empty",
            )
            return None
        pressed = self.presses.pop(0) if self.presses else None
        option, why = answer(plan, pressed)
        keys = ", ".join(f"{o.key} {o.label}" for o in plan.options)
        self.add(
            "menu",
            f"menu {menu.id}: played [{keys}]{hidden}; {why}",
            menu=menu.id,
            action="play",
            offered=[o.key for o in plan.options],
            key=option.key if option else None,
        )
        if option is None:
            return None
        self.facts = self.facts.with_answer(menu.id, option.key)
        return option.then

    def operator(
        self, what: str, op_id: str | None, target: AssignedTarget | OperatorTarget
    ) -> Target | Journey:
        status = self.statuses.get(op_id) if op_id else None
        if status is None:
            why = "none" if op_id is None else f"{op_id} is not an operator here"
            self.add("operator", f"{what}: {why}; next", operator=op_id)
            return target.otherwise
        if status.presence is Presence.AVAILABLE:
            name = status.operator.name
            self.add("operator", f"{what} {op_id} ({name}) is available: ring them", operator=op_id)
            return self.done("connect", op_id)
        self.add(
            "operator",
            f"{what} {op_id} is {status.presence}: wait up to"
            f" {target.wait_s} s for them, then next",
            operator=op_id,
            presence=str(status.presence),
            wait_s=target.wait_s,  # the what-if replay waits as long (domain/replay)
        )
        return target.otherwise

    def queue(self, queue: Queue) -> Target | Journey:
        for step in queue.steps:
            if step.after_s > queue.max_wait_s:
                break
            eligible = eligible_operators(
                queue, step.after_s, self.world.operators, self.world.queues
            )
            ids = [op.id for op in eligible]
            order = choose_operators(
                [self.statuses[i] for i in ids if i in self.statuses],
                assigned_id=self.facts.assigned_operator,
                strategy=queue.strategy,
                skills=queue.skills,
            )
            need = ", ".join(step.skills) or "any skill"
            over = f" + overflow to {step.overflow_to}" if step.overflow_to else ""
            text = (
                f"queue {queue.id} at {step.after_s} s: {need} level ≥ {step.min_level}"
                f"{over}: eligible {', '.join(ids) or 'nobody'}; available"
                f" {', '.join(s.id for s in order) or 'nobody'}"
            )
            self.add(
                "queue",
                text,
                queue=queue.id,
                after_s=step.after_s,
                eligible=ids,
                available=[s.id for s in order],
            )
            if order:
                first = order[0]
                self.add(
                    "queue",
                    f"ring {first.id} ({first.operator.name}) first"
                    + (f", then {', '.join(s.id for s in order[1:])}" if order[1:] else ""),
                    operator=first.id,
                )
                return self.done("connect", first.id)
        self.add(
            "queue",
            f"queue {queue.id}: nobody available within max_wait_s {queue.max_wait_s}",
            queue=queue.id,
            # What the what-if replay needs to wait in this queue as the live router does.
            max_wait_s=queue.max_wait_s,
            priority=queue.priority,
            strategy=queue.strategy,
            skills=list(queue.skills),
        )
        if queue.at_max_wait is not None:
            return queue.at_max_wait
        return self.miss(MissReason.MAX_WAIT, "no_operator", waited_s=queue.max_wait_s)

    def callback(self, target: CallbackTarget) -> Journey:
        what = "record a voicemail" if target.voicemail else "promise a call back"
        self.add("callback", f"play {target.message or 'a message'} and {what}")
        reason = MissReason.REQUESTED
        calendar = self.world.calendars.get(self.facts.calendar or "")
        if calendar is not None and not is_open(calendar, self.facts.now).open:
            reason = MissReason.AFTER_HOURS
        return self.miss(reason, "voicemail" if target.voicemail else "callback")

    def miss(self, reason: MissReason, outcome: str, waited_s: float = 0.0) -> Journey:
        policy = self.world.callback
        calendar = self.world.calendars.get(policy.calendar) if policy.calendar else None
        decision = decide_callback(
            policy,
            reason,
            waited_s=waited_s,
            now=self.facts.now,
            calendar=calendar,
            caller_known_number=self.has_number,
        )
        due = decision.first_attempt_at
        when = f"; first attempt {due:%Y-%m-%d %H:%M}" if due else ""
        if decision.create:
            text = f"callback task created ({reason}){when}"
        else:
            text = f"no callback task: {decision.reason}"
        self.add(
            "callback",
            text,
            create=decision.create,
            reason=str(reason),
            first_attempt_at=due.isoformat() if due else None,
        )
        return self.done(outcome, task=decision.create)


def plan_journey(
    world: RoutingWorld,
    facts: CallerFacts,
    start: Target,
    statuses: Mapping[str, OperatorStatus],
    presses: Sequence[str | None] = (),
    *,
    has_number: bool = True,
    unrouted_max_wait_s: int = 0,
) -> Journey:
    """Follow `start` (usually the line's `RoutesTarget`) to an outcome, step by step.

    `statuses` are the operators' live states by id; `presses` are the keys the caller
    would press in the menus that get played, in order (None or none left: no key, so
    the menu's default). `has_number` is False for a withheld or invalid caller ID:
    nobody can call them back. `unrouted_max_wait_s` is the settings' wait of the last
    resort (see `last_resort`).
    """
    walk = _Walk(world, facts, statuses, presses, has_number, unrouted_max_wait_s)
    return walk.run(start)
