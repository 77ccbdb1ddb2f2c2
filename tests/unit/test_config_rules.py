"""rules.yaml: the example passes; operators become domain Operator values."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from router.config.errors import ConfigError
from router.config.rules import Rules, load_rules
from router.domain.operators import Operator

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "rules.yaml"


def _rules(tmp_path: Path, text: str) -> Rules:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path, source="rules.yaml")


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _rules(tmp_path, text)
    return [str(i) for i in info.value.issues]


def test_the_example_rules_load() -> None:
    rules = load_rules(EXAMPLE)
    assert rules.version == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()[:12]
    assert rules.loaded_from == EXAMPLE
    assert list(rules.skills) == [
        "paid", "oms", "dms", "checkup", "results", "dentistry", "children", "english",
    ]  # fmt: skip
    assert [o.id for o in rules.operators] == [f"op100{n}" for n in range(1, 9)]
    assert [o.endpoint for o in rules.operators] == [f"PJSIP/op100{n}" for n in range(1, 9)]
    assert {o.branch for o in rules.operators} == {"moscow", "ryazan"}
    assert {o.team for o in rules.operators} == {"moscow-front", "ryazan", "vip-managers"}
    english = [o.id for o in rules.operators if "en" in o.languages]
    assert len(english) == 2
    assert all(set(o.skills) <= set(rules.skills) for o in rules.operators)
    assert len({tuple(sorted(o.skills.items())) for o in rules.operators}) == 8


def test_operators_are_domain_values(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        "skills: {dms: DMS, paid: Платные}\n"
        "operators:\n"
        "  - id: 1001\n"
        "    name: '  Анна Смирнова '\n"
        "    endpoint: PJSIP/op1001\n"
        "    skills: {dms: 5, paid: 1}\n",
    )
    (op,) = rules.operators
    assert op == Operator(
        id="1001",
        name="Анна Смирнова",
        endpoint="PJSIP/op1001",
        team=None,
        branch=None,
        skills={"dms": 5, "paid": 1},
        languages=("ru",),
    )
    assert rules.operator("1001") is op
    assert rules.operator("nobody") is None
    with pytest.raises(TypeError):
        op.skills["dms"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        rules.skills["x"] = "y"  # type: ignore[index]


def test_a_minimal_file(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "operators: [{id: op1, name: Ola, endpoint: PJSIP/op1}]\n")
    assert [op.id for op in rules.operators] == ["op1"]
    assert dict(rules.skills) == {}
    assert rules.name is None


def test_the_norway_problem_does_not_exist_here(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        "operators:\n  - {id: op1, name: Ola, endpoint: PJSIP/op1, languages: [no, en]}\n",
    )
    assert rules.operators[0].languages == ("no", "en")


def test_anchors_share_skill_sets(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        "skills: {paid: P, oms: O, dms: D}\n"
        "operators:\n"
        "  - {id: a, name: A, endpoint: PJSIP/a, skills: &front {paid: 3, oms: 2}}\n"
        "  - {id: b, name: B, endpoint: PJSIP/b, skills: {<<: *front, dms: 4}}\n",
    )
    assert dict(rules.operators[1].skills) == {"dms": 4, "paid": 3, "oms": 2}


def test_unknown_skill_inside_a_merged_set_points_at_the_anchor(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        "skills: {paid: P}\n"
        "operators:\n"
        "  - {id: a, name: A, endpoint: PJSIP/a, skills: &front {paid: 3, pad: 2}}\n"
        "  - {id: b, name: B, endpoint: PJSIP/b, skills: {<<: *front}}\n",
    )
    assert errors == [
        "rules.yaml:3:66: operators[0].skills.pad: unknown skill 'pad' (did you mean 'paid'?)",
        "rules.yaml:3:66: operators[1].skills.pad: unknown skill 'pad' (did you mean 'paid'?)",
    ]


def test_empty_catalogue_hint(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path, "operators:\n  - {id: a, name: A, endpoint: PJSIP/a, skills: {paid: 3}}\n"
    )
    assert errors == [
        "rules.yaml:2:50: operators[0].skills.paid: unknown skill 'paid' (the skills catalogue"
        " is empty: list the skills under 'skills:')"
    ]


def test_skill_level_must_be_a_whole_number(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        "skills: {paid: P}\noperators:\n"
        "  - {id: a, name: A, endpoint: PJSIP/a, skills: {paid: 2.5}}\n"
        "  - {id: b, name: B, endpoint: PJSIP/b, skills: {paid: '3'}}\n"
        "  - {id: c, name: C, endpoint: PJSIP/c, skills: {paid: true}}\n",
    )
    assert errors == [
        "rules.yaml:3:56: operators[0].skills.paid: expected a whole number, got the number 2.5",
        "rules.yaml:4:56: operators[1].skills.paid: expected a whole number, got '3'",
        "rules.yaml:5:56: operators[2].skills.paid: expected a whole number, got true",
    ]


def test_bad_language_and_branch(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        "operators:\n"
        "  - {id: a, name: A, endpoint: PJSIP/a, branch: Moscow City, languages: [Russian]}\n"
        "  - {id: b, name: B, endpoint: PJSIP/b, languages: []}\n",
    )
    assert errors == [
        "rules.yaml:2:49: operators[0].branch: 'Moscow City' is not a valid id: use lowercase"
        " latin letters, digits, '-' and '_', starting with a letter, at most 40 characters"
        " (like 'moscow-front')",
        "rules.yaml:2:74: operators[0].languages[0]: 'Russian' is not a language code: use a"
        " lowercase ISO 639 code like 'ru' or 'en'",
        "rules.yaml:3:52: operators[1].languages: must not be an empty list",
    ]


def test_the_version_changes_with_the_content(tmp_path: Path) -> None:
    one = "operators: [{id: op1, name: Ola, endpoint: PJSIP/op1}]"
    first = _rules(tmp_path, one + "\n").version
    second = _rules(tmp_path, one + " # edited\n").version
    assert first != second
    assert len(first) == 12
    int(first, 16)


def test_a_queue_may_set_its_service_level_target(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    paid = "  paid:\n    priority: 5\n"
    rules = _rules(tmp_path, text.replace(paid, paid + "    service_level_s: 15\n", 1))
    assert rules.queues["paid"].service_level_s == 15
    assert rules.queues["oms"].service_level_s is None  # the console's service_level_s
    errors = _errors(tmp_path, text.replace(paid, paid + "    service_level_s: 0\n", 1))
    assert len(errors) == 1 and "queues.paid.service_level_s" in errors[0]
