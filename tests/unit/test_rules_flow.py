"""Rules that strand or loop callers: refused with their position, or accepted with a
warning that says what callers will get (issue 13, item 4)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from router.config.check import run_check
from tests.unit.test_config_rules import _errors, _rules

HEAD = """skills: {paid: Paid services, dms: DMS}
operators:
  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {paid: 3}}
lines:
  - {id: moscow, numbers: "+74952232222"}
"""  # 5 lines: what follows starts at line 6


def _warnings(tmp_path: Path, text: str) -> list[str]:
    return [str(w) for w in _rules(tmp_path, text).warnings]


def test_no_operators_is_refused(tmp_path: Path) -> None:
    text = "skills: {paid: Paid}\noperators: []\n"
    assert _errors(tmp_path, text) == [
        "rules.yaml:2:1: operators: no operators: no call could ever be answered (list at"
        " least one, like '- {id: op1001, name: Anna, endpoint: PJSIP/op1001}')"
    ]


def test_a_file_without_the_operators_section_is_refused(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, "skills: {paid: Paid}\n")
    assert error.startswith("rules.yaml:1:1: operators: no operators")


def test_a_route_list_sending_calls_to_itself_is_refused(tmp_path: Path) -> None:
    text = HEAD + "routes:\n  main:\n    - {name: again, then: {routes: main}}\n"
    (error,) = _errors(tmp_path, text)
    assert error.startswith(
        "rules.yaml:8:36: routes.main[0].then.routes: route lists main -> main form a loop"
    )


def test_a_conditional_loop_of_route_lists_is_refused(tmp_path: Path) -> None:
    # Only DMS callers go round, but every one of them does: route lists see the same facts.
    text = HEAD + (
        "routes:\n"
        "  main:\n"
        "    - {name: dms, when: {tags_any: dms}, then: {routes: dms}}\n"
        "    - {name: all, then: {skills: {need: [paid]}}}\n"
        "  dms:\n"
        "    - {name: back, then: {routes: main}}\n"
    )
    (error,) = _errors(tmp_path, text)
    assert error.startswith(
        "rules.yaml:8:57: routes.main[0].then.routes: route lists main -> dms -> main form a loop"
    )
    assert "gives up after 20 steps and rings any free operator without waiting" in error


def test_menus_that_only_lead_to_each_other_are_refused(tmp_path: Path) -> None:
    text = HEAD + (
        "routes:\n  main:\n    - {name: all, then: {menu: a}}\n"
        "menus:\n"
        "  a:\n    prompt: a\n    default: '1'\n"
        "    options: [{key: '1', label: B, then: {menu: b}},"
        " {key: '2', label: A, then: {menu: a}}]"
        "\n"
        "  b:\n    prompt: b\n"
        "    options: [{key: '1', label: A, then: {menu: a}},"
        " {key: '2', label: B, then: {menu: b}}]"
        "\n"
    )
    (error,) = _errors(tmp_path, text)
    assert error.startswith(
        "rules.yaml:13:49: menus.a.options[0].then.menu: menu 'a', menu 'b' form a loop with"
        " no way out"
    )


def test_a_menu_that_repeats_itself_with_other_ways_out_is_accepted(tmp_path: Path) -> None:
    text = HEAD + (
        "routes:\n  main:\n    - {name: all, then: {menu: a}}\n"
        "menus:\n"
        "  a:\n    prompt: a\n    default: '1'\n"
        "    options:\n"
        "      - {key: '0', label: Again, then: {menu: a}}\n"
        "      - {key: '1', label: Paid, then: {skills: {need: [paid]}}}\n"
    )
    assert _warnings(tmp_path, text) == []


def test_a_queue_whose_only_answerable_step_comes_after_max_wait_is_refused(
    tmp_path: Path,
) -> None:
    text = HEAD + (
        "routes:\n  main:\n    - {name: all, then: {queue: paid}}\n"
        "queues:\n"
        "  paid:\n"
        "    max_wait_s: 30\n"
        "    steps: [{after_s: 0, skills: [paid], min_level: 5}, {after_s: 60, skills: [paid]}]\n"
    )
    assert _errors(tmp_path, text) == [
        "rules.yaml:10:3: queues.paid: no operator could ever take this queue: even its last"
        " step before max_wait_s 30 needs paid at level 5 or more"
    ]


def test_steps_nobody_reaches_or_passes_are_warned_about(tmp_path: Path) -> None:
    text = HEAD + (
        "routes:\n  main:\n    - {name: all, then: {queue: paid}}\n"
        "queues:\n"
        "  paid:\n"
        "    max_wait_s: 60\n"
        "    steps:\n"
        "      - {after_s: 0, skills: [paid], min_level: 5}\n"
        "      - {after_s: 20, skills: [paid]}\n"
        "      - {after_s: 90, skills: [dms]}\n"
    )
    assert _warnings(tmp_path, text) == [
        "rules.yaml:13:9: queues.paid.steps[0]: no operator may take this queue's calls before"
        " they waited 20 s (the first step anyone passes): callers wait that long with nobody"
        " to answer",
        "rules.yaml:15:19: queues.paid.steps[2].after_s: this step is never reached: callers"
        " wait at most max_wait_s 60 s in this queue",
    ]


def test_a_route_list_that_only_hangs_up_is_warned_about(tmp_path: Path) -> None:
    text = HEAD + "routes:\n  main:\n    - {name: closed, then: {hang_up: {message: bye}}}\n"
    assert _warnings(tmp_path, text) == [
        "rules.yaml:7:3: routes.main: no caller sent to this route list can reach an operator"
        " or get a callback: every way out ends in a message and hang-up"
    ]


def test_a_manager_whose_otherwise_hangs_up_is_warned_about(tmp_path: Path) -> None:
    text = HEAD + (
        "routes:\n  main:\n"
        "    - name: own\n"
        "      when: {has_assigned_operator: true}\n"
        "      then: {assigned_operator: {wait_s: 10, otherwise: {hang_up: {}}}}\n"
        "    - {name: all, then: {skills: {need: [paid]}}}\n"
    )
    assert _warnings(tmp_path, text) == [
        "rules.yaml:10:46: routes.main[0].then.assigned_operator.otherwise: when the"
        " patient's manager does not answer, the caller gets a message and hang-up and no"
        " operator: add a queue, skills or callback target here"
    ]


def test_unused_definitions_are_warned_about(tmp_path: Path) -> None:
    text = HEAD + (
        "routes:\n"
        "  main:\n    - {name: all, then: {skills: {need: [paid]}}}\n"
        "  spare:\n    - {name: all, then: {queue: paid}}\n"
        "menus:\n"
        "  old:\n    prompt: old\n"
        "    options: [{key: '1', label: Paid, then: {queue: paid}}]\n"
        "queues:\n  paid:\n    steps: [{after_s: 0, skills: [paid]}]\n"
    )
    assert _warnings(tmp_path, text) == [
        "rules.yaml:9:3: routes.spare: route list 'spare' is not used: no line, route or menu"
        " option leads to it, so no caller ever gets here",
        "rules.yaml:12:3: menus.old: menu 'old' is not used: no line, route or menu option"
        " leads to it, so no caller ever gets here",
        "rules.yaml:16:3: queues.paid: queue 'paid' is not used: no line, route or menu option"
        " leads to it, so no caller ever gets here",
    ]


def test_routing_sections_without_lines_get_one_warning(tmp_path: Path) -> None:
    text = HEAD.replace('lines:\n  - {id: moscow, numbers: "+74952232222"}\n', "") + (
        "routes:\n  main:\n    - {name: all, then: {skills: {need: [paid]}}}\n"
    )
    (warning,) = _warnings(tmp_path, text)
    assert warning.startswith("rules.yaml:1:1: lines: no lines: every call is unrouted and goes")


def test_check_prints_warnings_and_accepts_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        HEAD + "routes:\n  main:\n    - {name: closed, then: {hang_up: {}}}\n", encoding="utf-8"
    )
    out = io.StringIO()
    assert run_check(str(path), out=out) == 0
    first, last = out.getvalue().splitlines()
    assert first.endswith(
        ":7:3: routes.main: warning: no caller sent to this route list can reach an operator or get"
        " a callback: every way out ends in a message and hang-up"
    )
    assert last.endswith("1 operators, 2 skills, 1 warning)")
    out = io.StringIO()
    assert run_check(str(path), "json", out=out) == 0
    (warning,) = json.loads(out.getvalue())["warnings"]
    assert (warning["line"], warning["column"], warning["path"]) == (7, 3, "routes.main")


def test_callers_no_route_or_key_places_are_warned_about(tmp_path: Path) -> None:
    text = HEAD + (
        "routes:\n  main:\n    - {name: dms, when: {tags_any: dms}, then: {menu: dms}}\n"
        "menus:\n"
        "  dms:\n    prompt: dms\n"
        "    options: [{key: '1', label: A, then: {skills: {need: [dms]}}},"
        " {key: '2', label: B, then: {skills: {need: [paid]}}}]\n"
    )
    text = text.replace("skills: {paid: 3}", "skills: {paid: 3, dms: 1}")
    assert _warnings(tmp_path, text) == [
        "rules.yaml:7:3: routes.main: callers no route of this list matches go to the last"
        " resort (any free operator, waiting routing.unrouted_max_wait_s, 0 s unless set),"
        " then to the callback policy: end it with a route without `when` to say where they go",
        "rules.yaml:10:3: menus.dms: callers who press no valid key go to the last resort (any"
        " free operator, waiting routing.unrouted_max_wait_s, 0 s unless set), then to the"
        " callback policy: set its `default` to say where they go",
    ]


def test_a_menu_whose_default_leads_back_into_it_is_refused(tmp_path: Path) -> None:
    # Other keys lead out, but a caller who presses nothing hears the menu for ever.
    text = HEAD + (
        "routes:\n  main:\n    - {name: all, then: {menu: a}}\n"
        "menus:\n"
        "  a:\n    prompt: a\n    default: '0'\n"
        "    options:\n"
        "      - {key: '0', label: Again, then: {routes: main}}\n"
        "      - {key: '1', label: Paid, then: {skills: {need: [paid]}}}\n"
    )
    (error,) = _errors(tmp_path, text)
    assert error == (
        "rules.yaml:8:32: routes.main[0].then.menu: route list 'main', menu 'a' form a loop"
        " that a caller who presses no key goes round for ever: a menu's `default`, only"
        " option or `auto_when` option leads back into it (the live router gives up after 20"
        " steps and rings any free operator without waiting); make the default lead out of"
        " the loop"
    )


def test_a_queue_that_sends_callers_back_to_itself_is_warned_about(tmp_path: Path) -> None:
    text = HEAD + (
        "routes:\n  main:\n    - {name: all, then: {queue: paid}}\n"
        "queues:\n"
        "  paid:\n"
        "    steps: [{after_s: 0, skills: [paid]}]\n"
        "    at_max_wait: {routes: main}\n"
    )
    assert _warnings(tmp_path, text) == [
        "rules.yaml:12:27: queues.paid.at_max_wait.routes: route list 'main', queue 'paid' form"
        " a loop: callers whose wait in queue 'paid' runs out come back to it and wait again,"
        " until the live router gives up after 20 steps and rings any free operator without"
        " waiting"
    ]
