"""What the router hands back to the dialplan: a decision as channel variables.

The walk (router/agi/call.py) follows the line's routes and menus with the pure core like
ARI mode does; a target that needs waiting (a queue, an operator, a call back) is where
AGI mode stops and the dialplan takes over with Dial()/Queue(). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.agi.queues import app_queue, queue_name, skills_queue
from router.config.rules import Rules
from router.domain.calendar import is_open
from router.domain.menus import plan_menu
from router.domain.queue_steps import Queue
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

AGI_APP = "agi"  # the journey's `app`: ARI mode's reconcile never takes these calls
MAX_HOPS = 20  # as the live walk: loops in routes and menus are cut, not spun


@dataclass(frozen=True, slots=True)
class QueueStop:
    name: str  # app_queue's queue
    wait_s: int
    priority: int
    relaxes: bool  # penalty steps follow: the caller starts at max penalty 0


@dataclass(frozen=True, slots=True)
class Decision:
    """Where the dialplan sends the call (`CR_TARGET`) and with what."""

    target: str  # queue | operator | callback | voicemail | message
    queue: QueueStop | None = None  # for `queue`, and after `operator`
    operator: str | None = None  # operator id
    endpoint: str | None = None
    operator_wait_s: int = 0
    message: str | None = None
    after: str | None = None  # an operator's `otherwise` that is not a queue: its target

    def variables(self, *, call_id: str, language: str, patient: str | None) -> dict[str, str]:
        out = {"CR_TARGET": self.target, "CR_CALL": call_id, "CR_LANG": language}
        out["CR_PATIENT"] = patient or ""
        if self.queue is not None:
            out.update(
                CR_QUEUE=self.queue.name,
                CR_QUEUE_WAIT=str(self.queue.wait_s),
                QUEUE_PRIO=str(self.queue.priority),
            )
            if self.queue.relaxes:
                out["QUEUE_MAX_PENALTY"] = "0"
        if self.endpoint is not None:
            out.update(CR_OPERATOR=self.endpoint, CR_OPERATOR_WAIT=str(self.operator_wait_s))
        out["CR_MESSAGE"] = _sound(self.message) if self.message else ""
        return out

    def describe(self) -> dict[str, object]:
        """The journey's `agi_decision` step."""
        data: dict[str, object] = {"target": self.target}
        if self.queue is not None:
            data.update(queue=self.queue.name, wait_s=self.queue.wait_s)
        if self.operator is not None:
            data.update(operator=self.operator, ring_s=self.operator_wait_s)
        if self.message:
            data["message"] = self.message
        return data


def _sound(prompt: str) -> str:
    """ARI media names as Playback() takes them (`sound:vm-nobodyavail` -> `vm-nobodyavail`)."""
    return prompt.removeprefix("sound:")


def queue_stop(queue: Queue, rules: Rules) -> QueueStop:
    shaped = app_queue(queue, rules.operators, rules.queues)
    return QueueStop(queue_name(queue.id), queue.max_wait_s, queue.priority, bool(shaped.steps))


def for_queue(target: QueueTarget | SkillsTarget, rules: Rules) -> Decision:
    queue = rules.queues[target.queue] if isinstance(target, QueueTarget) else skills_queue(target)
    return Decision("queue", queue_stop(queue, rules))


def for_callback(target: CallbackTarget, no_operator_prompt: str) -> Decision:
    kind = "voicemail" if target.voicemail else "callback"
    return Decision(kind, message=target.message or no_operator_prompt)


def for_message(target: HangUpTarget, no_operator_prompt: str) -> Decision:
    return Decision("message", message=target.message or no_operator_prompt)


def is_after_hours(rules: Rules, facts: CallerFacts) -> bool:
    calendar = rules.calendars.get(facts.calendar or "")
    return calendar is not None and not is_open(calendar, facts.now).open


def for_operator(
    op_id: str,
    target: AssignedTarget | OperatorTarget,
    rules: Rules,
    facts: CallerFacts,
    fallback: Decision,
) -> Decision:
    """Ring one operator for their wait budget, then what `otherwise` leads to without
    asking the caller anything more (a menu there takes its automatic or default key)."""
    operator = rules.operator(op_id)
    assert operator is not None
    after = settle(target.otherwise, rules, facts, fallback)
    return Decision(
        "operator",
        queue=after.queue,
        operator=op_id,
        endpoint=operator.endpoint,
        operator_wait_s=target.wait_s,
        message=after.message,
        after=None if after.target == "queue" else after.target,
    )


def settle(
    target: Target,
    rules: Rules,
    facts: CallerFacts,
    fallback: Decision,
    *,
    ring_operator: bool = False,
) -> Decision:
    """Follow `target` to a queue (or a call back, a message) with no further prompt: a
    menu takes the key in `facts.answers`, else its automatic or default option.
    `ring_operator`: a manager or named operator on the way is the decision (`simulate`);
    otherwise they are passed over (one operator is rung per call in AGI mode)."""
    current: Target | None = target
    for _ in range(MAX_HOPS):
        if current is None:
            break
        if isinstance(current, RoutesTarget):
            decision = evaluate_routes(rules.routes.get(current.routes, ()), facts, rules.calendars)
            current = decision.route.then if decision.route else None
        elif isinstance(current, MenuTarget):
            plan = plan_menu(rules.menus[current.menu], facts, rules.calendars)
            key = facts.answers.get(current.menu)
            pressed = next((o for o in plan.options if o.key == key), None)
            option = plan.chosen or pressed or plan.default
            current = option.then if option else None
        elif isinstance(current, AssignedTarget | OperatorTarget):
            op_id = (
                facts.assigned_operator if isinstance(current, AssignedTarget) else current.operator
            )
            if ring_operator and op_id is not None and rules.operator(op_id) is not None:
                return for_operator(op_id, current, rules, facts, fallback)
            current = current.otherwise
        elif isinstance(current, QueueTarget | SkillsTarget):
            return for_queue(current, rules)
        elif isinstance(current, CallbackTarget):
            return for_callback(current, fallback.message or "")
        else:
            return for_message(current, fallback.message or "")
    return fallback


def explain(
    start: Target, rules: Rules, facts: CallerFacts, fallback: Decision
) -> dict[str, object]:
    """What the dialplan gets for this caller in AGI mode (`simulate`): the decision and
    its channel variables. `facts.answers` holds the menu keys the walk chose."""
    decision = settle(start, rules, facts, fallback, ring_operator=True)
    values = decision.variables(call_id="-", language=facts.language, patient=None)
    shown = {k: v for k, v in values.items() if v and k not in ("CR_CALL", "CR_PATIENT")}
    text = " ".join(f"{k}={v}" for k, v in shown.items())
    return {
        **decision.describe(),
        "variables": shown,
        "text": f"AGI mode: the dialplan gets {text}",
    }
