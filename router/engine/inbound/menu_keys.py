"""A menu played to the caller and the keys they press.

This module only plays and listens: which option a key selects, and what happens when
no valid key comes, is decided by the core's menu plan (`domain.menus`), the same
functions `clinic-router simulate` uses.
"""

from __future__ import annotations

from datetime import datetime

from router.domain.menus import MenuOption, MenuPlan, answer_after_retries, offered
from router.engine.inbound.prompts import Prompts


def visit_prompts(visit: datetime | None) -> list[str]:
    """ "(your appointment) tomorrow at 10 hours 30 minutes", from core and demo sounds."""
    if visit is None:
        return []
    today = datetime.now(visit.tzinfo).date()
    day = "clinic-visit-today" if visit.date() == today else "clinic-visit-tomorrow"
    prompts = [day, f"number:{visit.hour}", "hours"]
    if visit.minute:
        prompts += [f"number:{visit.minute}", "minutes"]
    return prompts


async def ask_menu(
    prompts: Prompts, plan: MenuPlan, visit: datetime | None
) -> tuple[MenuOption | None, list[str], str]:
    """Play a trimmed menu until a valid key; after the retries, the plan's answer.

    Returns the option (None: no valid key and no default), the keys pressed and what
    happened in words. A caller who presses nothing is never hung up on here: the walk
    decides what comes next.
    """
    menu = plan.menu
    played = [menu.prompt]
    for option in plan.options:
        played += [option.prompt] if option.prompt else []
        played += visit_prompts(visit) if option.say_visit else []
    pressed: list[str] = []
    for attempt in range(menu.retries + 1):
        key = await prompts.ask_key(played, menu.timeout_s)
        if key is not None:
            pressed.append(key)
            chosen = offered(plan, key)
            if chosen is not None:
                return chosen, pressed, f"caller pressed {key}"
        if attempt < menu.retries and key is not None and menu.invalid_prompt:
            await prompts.play([menu.invalid_prompt], limit_s=30)
    default, why = answer_after_retries(plan, pressed)
    return default, pressed, why
