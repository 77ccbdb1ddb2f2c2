"""The menu's answer, decided in one place (domain.menus) for the live engine and for
`simulate`: which option a key selects, and what happens after every try failed."""

from __future__ import annotations

from router.domain.menus import Menu, MenuOption, MenuPlan, answer, answer_after_retries, offered
from router.domain.routing import HangUpTarget


def option(key: str) -> MenuOption:
    return MenuOption(key, f"option {key}", HangUpTarget())


def played(default: str | None, *keys: str) -> MenuPlan:
    options = tuple(option(k) for k in keys)
    menu = Menu("m", "menu-prompt", options, retries=2, default=default)
    return MenuPlan(menu, "play", options, ())


def test_a_key_selects_only_an_offered_option() -> None:
    plan = played(None, "1", "2")
    assert offered(plan, "2") == option("2")
    assert offered(plan, "3") is None
    assert offered(plan, None) is None


def test_after_the_retries_the_default_or_nothing() -> None:
    assert answer_after_retries(played("2", "1", "2"), ["7", "8"]) == (
        option("2"),
        "no valid key (7, 8) after 3 tries: default 2",
    )
    assert answer_after_retries(played(None, "1"), []) == (
        None,
        "no valid key after 3 tries and no default",
    )


def test_a_default_no_longer_offered_is_no_default() -> None:
    plan = played("3", "1", "2")  # option 3 hidden for this caller
    assert answer_after_retries(plan, [])[0] is None


def test_simulate_and_the_engine_agree_on_a_pressed_key() -> None:
    plan = played("1", "1", "2")
    assert answer(plan, "2") == (offered(plan, "2"), "caller pressed 2")
    assert answer(plan, "9")[0] == answer_after_retries(plan, ["9"])[0] == option("1")
