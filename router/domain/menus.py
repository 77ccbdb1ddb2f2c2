"""Menus trimmed to the caller: options hidden or taken automatically by conditions.

Known callers should not hear questions whose answer is already known (the clinic-context
notes: "cut the superfluous menus out of the patient's route"). So before a menu plays:
options whose `hide_when` holds are removed; if an option's `auto_when` holds it is taken
without playing anything; if exactly one option remains it is taken too (a menu with one
choice is not a question).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from router.domain.calendar import Calendar
from router.domain.routing import CallerFacts, Condition, Target, why_not


@dataclass(frozen=True, slots=True)
class MenuOption:
    key: str  # DTMF: 0-9, * or #
    label: str
    then: Target
    hide_when: Condition | None = None
    auto_when: Condition | None = None
    prompt: str | None = None  # "for paid services press 1": played only when offered
    say_visit: bool = False  # follow the prompt with the caller's visit today/tomorrow


@dataclass(frozen=True, slots=True)
class Menu:
    id: str
    prompt: str  # a sound name, as Asterisk's Playback takes it
    options: tuple[MenuOption, ...]
    timeout_s: int = 5
    retries: int = 2
    default: str | None = None  # key taken when the caller presses nothing valid
    invalid_prompt: str | None = None

    def option(self, key: str) -> MenuOption | None:
        return next((o for o in self.options if o.key == key), None)


MenuAction = Literal["play", "auto", "skip", "empty"]


@dataclass(frozen=True, slots=True)
class MenuPlan:
    """What to do with a menu for this caller.

    play: play it with `options`; auto: take `chosen` (its auto_when held) without playing;
    skip: take `chosen`, the only option left; empty: every option is hidden.
    """

    menu: Menu
    action: MenuAction
    options: tuple[MenuOption, ...]
    hidden: tuple[str, ...]  # keys hidden for this caller
    chosen: MenuOption | None = None

    @property
    def default(self) -> MenuOption | None:
        """The default option, when it is still offered."""
        if self.menu.default is None:
            return None
        return next((o for o in self.options if o.key == self.menu.default), None)


def plan_menu(menu: Menu, facts: CallerFacts, calendars: Mapping[str, Calendar]) -> MenuPlan:
    """Trim `menu` for `facts`: hidden options removed, automatic/only option taken."""
    visible, hidden = [], []
    for option in menu.options:
        if option.hide_when is not None and not why_not(option.hide_when, facts, calendars):
            hidden.append(option.key)
        else:
            visible.append(option)
    for option in visible:
        if option.auto_when is not None and not why_not(option.auto_when, facts, calendars):
            return MenuPlan(menu, "auto", tuple(visible), tuple(hidden), option)
    if len(visible) == 1:
        return MenuPlan(menu, "skip", tuple(visible), tuple(hidden), visible[0])
    if not visible:
        return MenuPlan(menu, "empty", (), tuple(hidden))
    return MenuPlan(menu, "play", tuple(visible), tuple(hidden))


def answer(plan: MenuPlan, pressed: str | None) -> tuple[MenuOption | None, str]:
    """The option a caller's key selects in a played menu, and what happened in words.

    An unknown or missing key falls to the default option (after the retries, which only
    the live engine plays out); no default means no option.
    """
    option = offered(plan, pressed)
    if option is not None:
        return option, f"caller pressed {pressed}"
    default = plan.default
    what = "no key pressed" if pressed is None else f"key {pressed} is not offered"
    if default is not None:
        return default, f"{what}: default option {default.key}"
    return None, f"{what} and the menu has no default"


def offered(plan: MenuPlan, pressed: str | None) -> MenuOption | None:
    """The option a key selects among those the caller was offered (None: not offered)."""
    return next((o for o in plan.options if o.key == pressed), None)


def answer_after_retries(plan: MenuPlan, pressed: Sequence[str]) -> tuple[MenuOption | None, str]:
    """A played menu's answer when every try went by without a valid key: the default
    option (None: the menu has none), and what happened in words."""
    tries = plan.menu.retries + 1
    what = "no valid key" + (f" ({', '.join(pressed)})" if pressed else "")
    default = plan.default
    if default is not None:
        return default, f"{what} after {tries} tries: default {default.key}"
    return None, f"{what} after {tries} tries and no default"
