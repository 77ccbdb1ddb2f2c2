"""Prompts and keys over AGI: the menu a caller hears, with barge-in.

The same prompts as ARI mode (the menu's prompt, each offered option's, the caller's visit)
and the same rules (a key stops the prompt at once, only 0-9 * # count, retries with the
invalid-key prompt, then the menu's default): STREAM FILE with every key as an escape
digit, SAY NUMBER/DIGITS for `number:`/`digits:` prompts, then WAIT FOR DIGIT.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from router.agi.channel import AgiChannel
from router.domain.menus import MenuOption, MenuPlan, answer_after_retries, offered

log = logging.getLogger(__name__)

Extend = Callable[[float], Awaitable[None]]  # push the dialplan's deadline this far ahead
PROMPT_BUDGET_S = 60.0  # what one round of prompts may take before the dialplan gives up


def visit_prompts(visit: datetime | None, today: datetime | None = None) -> list[str]:
    """ "(your appointment) tomorrow at 10 hours 30 minutes", as ARI mode says it."""
    if visit is None:
        return []
    day_of = (today or datetime.now(visit.tzinfo)).date()
    day = "clinic-visit-today" if visit.date() == day_of else "clinic-visit-tomorrow"
    prompts = [day, f"number:{visit.hour}", "hours"]
    if visit.minute:
        prompts += [f"number:{visit.minute}", "minutes"]
    return prompts


def menu_prompts(plan: MenuPlan, visit: datetime | None) -> list[str]:
    prompts = [plan.menu.prompt]
    for option in plan.options:
        prompts += [option.prompt] if option.prompt else []
        prompts += visit_prompts(visit) if option.say_visit else []
    return prompts


async def play(channel: AgiChannel, prompt: str) -> str | None:
    """One prompt; the key that interrupted it, if any."""
    kind, _, value = prompt.partition(":") if ":" in prompt else ("sound", "", prompt)
    if kind == "sound":
        return await channel.stream_file(value)
    if kind in ("number", "digits") and value.isdigit():
        return await channel.say(kind.upper(), value)
    log.warning("prompt %s cannot be played over AGI; skipped", prompt[:60])
    return None


async def ask_key(channel: AgiChannel, prompts: Sequence[str], timeout_s: float) -> str | None:
    """Play `prompts` (a key stops them), then wait `timeout_s` for a key."""
    for prompt in prompts:
        key = await play(channel, prompt)
        if key is not None:
            return key
    return await channel.wait_for_digit(timeout_s)


async def run_menu(
    channel: AgiChannel, plan: MenuPlan, visit: datetime | None, extend: Extend
) -> tuple[MenuOption | None, list[str], str]:
    """A trimmed menu until a valid key; after the retries, its default (as ARI mode)."""
    menu = plan.menu
    prompts = menu_prompts(plan, visit)
    pressed: list[str] = []
    for attempt in range(menu.retries + 1):
        await extend(PROMPT_BUDGET_S + menu.timeout_s)
        key = await ask_key(channel, prompts, menu.timeout_s)
        if key is not None:
            pressed.append(key)
            option = offered(plan, key)
            if option is not None:
                return option, pressed, f"caller pressed {key}"
        if attempt < menu.retries and key is not None and menu.invalid_prompt:
            await play(channel, menu.invalid_prompt)
    option, why = answer_after_retries(plan, pressed)
    return option, pressed, why
