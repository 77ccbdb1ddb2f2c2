"""AGI mode's pure parts: the line's mode, app_queue's queues from the rules, decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from router.agi.decision import Decision, QueueStop, for_operator, settle
from router.agi.queues import app_queues, render_queue_rules, render_queues
from router.config.errors import ConfigError
from router.config.rules import Rules, load_rules
from router.domain.routing import AssignedTarget, CallerFacts, MenuTarget

RULES = Path(__file__).resolve().parents[1] / "data" / "agi" / "rules.yaml"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES)


def test_a_line_is_ari_unless_it_says_agi(rules: Rules, tmp_path: Path) -> None:
    assert rules.line_for("74957770000").mode == "agi"  # type: ignore[union-attr]
    plain = tmp_path / "rules.yaml"
    plain.write_text(RULES.read_text().replace("    mode: agi\n", ""), encoding="utf-8")
    assert load_rules(plain).lines[0].mode == "ari"
    plain.write_text(RULES.read_text().replace("mode: agi", "mode: queue"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"lines\[0\]\.mode: expected one of ari, agi"):
        load_rules(plain)


def test_skills_become_penalties_and_steps_a_penalty_rule(rules: Rules) -> None:
    queues = {
        q.name: q for q in app_queues(rules.queues, rules.routes, rules.menus, rules.operators)
    }
    paid = queues["clinic-paid"]
    # level 4 from the start; level 2 only from the 8 s step; level 1 never
    assert paid.members == (("PJSIP/op1001", 0), ("PJSIP/op1002", 1))
    assert paid.steps == ((8, 1),)
    assert queues["clinic-dms"].members == (("PJSIP/op1003", 0),)
    assert "clinic-skills-any-l1" in queues  # the last resort: any operator
    text = render_queues(tuple(queues.values()), ring_timeout_s=15)
    assert "[clinic-paid]\n" in text and "member => PJSIP/op1002,1\n" in text
    assert "defaultrule = clinic-paid\n" in text
    assert render_queue_rules(tuple(queues.values())).endswith(
        "[clinic-paid]\npenaltychange => 8,1\n"
    )


def test_decision_variables_for_a_relaxing_queue() -> None:
    decision = Decision("queue", QueueStop("clinic-paid", 60, 5, relaxes=True))
    assert decision.variables(call_id="1.2", language="ru", patient=None) == {
        "CR_TARGET": "queue",
        "CR_CALL": "1.2",
        "CR_LANG": "ru",
        "CR_PATIENT": "",
        "CR_QUEUE": "clinic-paid",
        "CR_QUEUE_WAIT": "60",
        "QUEUE_PRIO": "5",
        "QUEUE_MAX_PENALTY": "0",
        "CR_MESSAGE": "",
    }


def test_the_manager_first_then_the_queue_the_rules_give_next(rules: Rules) -> None:
    facts = CallerFacts(now=NOW, line="agi-line", known=True, assigned_operator="op1004")
    fallback = Decision("queue", QueueStop("clinic-skills-any-l1", 0, 0, False))
    target = rules.routes["main"][0].then
    assert isinstance(target, AssignedTarget)
    decision = for_operator("op1004", target, rules, facts, fallback)
    values = decision.variables(call_id="1.2", language="ru", patient="p-1")
    assert values["CR_TARGET"] == "operator"
    assert (values["CR_OPERATOR"], values["CR_OPERATOR_WAIT"]) == ("PJSIP/op1004", "20")
    assert values["CR_QUEUE"] == "clinic-paid" and values["CR_PATIENT"] == "p-1"


def test_settle_takes_a_menus_default_without_asking(rules: Rules) -> None:
    facts = CallerFacts(now=NOW, line="agi-line")
    fallback = Decision("queue", QueueStop("clinic-skills-any-l1", 0, 0, False))
    assert settle(MenuTarget("main"), rules, facts, fallback).queue.name == "clinic-paid"  # type: ignore[union-attr]
    dms = CallerFacts(now=NOW, line="agi-line", known=True, tags=frozenset({"dms"}))
    assert settle(MenuTarget("main"), rules, dms, fallback).queue.name == "clinic-dms"  # type: ignore[union-attr]


def test_simulate_says_what_the_agi_dialplan_gets(capsys: pytest.CaptureFixture[str]) -> None:
    from router.cli.simulate import main

    args = ["--config", str(RULES), "--line", "74957770000", "--caller", "79990001122"]
    assert main([*args, "--press", "3"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("=> AGI mode: the dialplan gets CR_TARGET=queue")
    assert "CR_QUEUE=clinic-dms" in last
    assert main([*args, "--press", "9"]) == 0
    assert "CR_TARGET=callback" in capsys.readouterr().out
