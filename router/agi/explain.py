"""`simulate` for a line in AGI mode: the decision the dialplan would get."""

from __future__ import annotations

from router.agi.decision import Decision, explain, for_queue
from router.config.rules import Rules
from router.domain.journey import Journey, last_resort
from router.domain.routing import CallerFacts, Target


def agi_explain(
    rules: Rules, facts: CallerFacts, journey: Journey, start: Target, unrouted_max_wait_s: int
) -> dict[str, object]:
    """The menus answer as in the simulated journey; then the AGI decision from `start`."""
    for step in journey.steps:
        menu, key = step.data.get("menu"), step.data.get("key")
        if step.kind == "menu" and isinstance(menu, str) and isinstance(key, str):
            facts = facts.with_answer(menu, key)
    resort = for_queue(last_resort(unrouted_max_wait_s), rules)
    return explain(start, rules, facts, Decision("queue", resort.queue))
