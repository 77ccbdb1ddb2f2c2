"""The rules a load run gives the sandbox router, and how misses without a task are counted."""

from __future__ import annotations

from pathlib import Path

from router.config.rules import load_rules
from sip_test_harness.load.files import ROUTER_DID, rules_yaml
from sip_test_harness.load.observe import Journey, misses_without_task


def test_load_rules_pass_the_routers_own_checks(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml(["lop001", "lop002"]), encoding="utf-8")
    rules = load_rules(path)
    line = rules.line("load")
    assert [op.id for op in rules.operators] == ["lop001", "lop002"]
    assert line is not None and ROUTER_DID in line.numbers
    assert "main" in rules.menus
    assert rules.callback.min_abandon_s == 0  # every miss of a caller with a number: a task


def test_the_benchmark_rules_have_no_menu(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml(["lop001"], ivr=False), encoding="utf-8")
    rules = load_rules(path)
    assert not rules.menus
    assert [r.name for r in rules.routes["load"]] == ["everyone"]


def test_misses_without_task_count_only_numbered_misses_missing_from_the_ledger() -> None:
    journeys = [
        Journey("79160000001", "answered", "+79160000001"),
        Journey("79160000002", "abandoned", "+79160000002"),  # has its task
        Journey("79160000003", "callback", "+79160000003"),  # no task: lost
        Journey("anonymous", "abandoned", None),  # no number: no task possible
        Journey("79160000004", None, "+79160000004"),  # no outcome: counted elsewhere
    ]
    assert misses_without_task(journeys, {"+79160000002"}) == 1
