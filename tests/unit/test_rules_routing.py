"""The routing sections of the rules file: the example config, defaults, built values."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

import pytest

from router.config.errors import ConfigError
from router.config.rules import load_rules
from router.domain.calendar import TimeRange, is_open
from router.domain.routing import AssignedTarget, MenuTarget, QueueTarget

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.yaml"
MINIMAL = """\
skills:
  paid: Paid services
operators:
  - id: op1001
    name: Operator op1001
    endpoint: PJSIP/op1001
    team: front
    skills: {paid: 3}
"""


def test_example_config_is_valid_and_complete() -> None:
    rules = load_rules(EXAMPLE)
    assert [line.id for line in rules.lines] == ["moscow", "ryazan"]
    assert [o.id for o in rules.operators] == [f"op100{i}" for i in range(1, 9)]
    assert set(rules.skills) == {
        "paid",
        "oms",
        "dms",
        "checkup",
        "results",
        "dentistry",
        "children",
        "english",
    }
    main = rules.menus["main"]
    assert [o.key for o in main.options] == ["1", "2", "3", "4", "5", "6", "7", "9"]
    assert main.option("3") is not None and main.option("3").auto_when is not None  # type: ignore[union-attr]
    assert isinstance(rules.routes["main"][1].then, AssignedTarget)


def test_both_spellings_of_the_moscow_number_reach_the_same_line() -> None:
    rules = load_rules(EXAMPLE)
    moscow = rules.line_for("+74952232222")
    assert moscow is not None and moscow.id == "moscow"
    assert rules.line_for("74952232222") == moscow
    assert rules.line_for("+70000000000") is None


def test_minimal_file_stays_valid_with_empty_routing(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    rules = load_rules(path)
    assert rules.lines == () and dict(rules.routes) == {} and dict(rules.queues) == {}
    assert rules.callback.max_attempts == 3


def test_unquoted_times_are_read_as_times(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        MINIMAL
        + "calendars:\n  c:\n    hours: {mon-fri: 9:00-18:00, sat: [9:00-13:00, 14:00-16:00]}\n",
        encoding="utf-8",
    )
    calendar = load_rules(path).calendars["c"]
    assert calendar.weekly[0] == (TimeRange(time(9), time(18)),)
    assert len(calendar.weekly[5]) == 2
    assert 6 not in calendar.weekly
    assert is_open(calendar, datetime(2026, 12, 29, 9, 30)).open


def test_single_day_wins_over_a_group(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        MINIMAL + 'calendars:\n  c:\n    hours: {mon-fri: "09:00-18:00", fri: "09:00-16:00"}\n',
        encoding="utf-8",
    )
    weekly = load_rules(path).calendars["c"].weekly
    assert weekly[4] == (TimeRange(time(9), time(16)),)
    assert weekly[0] == (TimeRange(time(9), time(18)),)


def test_targets_are_built(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        MINIMAL
        + "queues:\n  q:\n    steps: [{after_s: 0, skills: paid}]\n"
        + "menus:\n  m:\n    prompt: p\n    options:\n"
        + "      - {key: 1, label: One, then: {queue: q}}\n"
        + "      - {key: 2, label: Two, then: {queue: q}}\n"
        + "routes:\n  main:\n    - name: all\n      then: {menu: m}\n",
        encoding="utf-8",
    )
    rules = load_rules(path)
    assert rules.routes["main"][0].then == MenuTarget("m")
    assert rules.menus["m"].options[0].key == "1"  # a number written as a key is a key
    assert rules.menus["m"].options[0].then == QueueTarget("q")
    assert rules.queues["q"].steps[0].skills == ("paid",)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        MINIMAL
        + "routes:\n  main:\n    - name: all\n      then: {queue: nope}\n"
        + "    - name: later\n      when: {caller: known}\n      then: {menu: nope}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_rules(path, source="rules.yaml")
    messages = [i.message for i in info.value.issues]
    assert len(messages) == 3, messages


def test_callback_dispatch_keys_are_built(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        MINIMAL
        + "callback:\n  repeat_priority_step: 2\n  dispatch_min_free_operators: 3\n"
        + "  dispatch_max_inbound_wait_s: 45\n",
        encoding="utf-8",
    )
    policy = load_rules(path).callback
    assert policy.repeat_priority_step == 2
    assert (policy.dispatch_min_free_operators, policy.dispatch_max_inbound_wait_s) == (3, 45)
    defaults = load_rules(EXAMPLE).callback
    assert (defaults.repeat_priority_step, defaults.dispatch_max_inbound_wait_s) == (1, 60)


def test_callback_dispatch_keys_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        MINIMAL + "callback:\n  dispatch_min_free_operators: 0\n  repeat_priority_step: -1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_rules(path, source="rules.yaml")
    messages = sorted(str(i) for i in info.value.issues)
    assert len(messages) == 2, messages
    assert "callback.dispatch_min_free_operators: must be at least 1" in messages[0]
    assert "callback.repeat_priority_step: must be at least 0" in messages[1]
