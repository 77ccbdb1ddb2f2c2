"""Issue formatting, JSON rendering, suggestions and pydantic error mapping."""

from __future__ import annotations

import json

import pytest

from router.config.errors import ConfigError, ConfigIssue, file_issue, format_path, suggest
from router.config.validation import describe


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("operators", 2, "skills", "dms"), "operators[2].skills.dms"),
        (("routes", 0), "routes[0]"),
        (("skills", "Paid Services"), 'skills["Paid Services"]'),
        (("a.b", "c"), '["a.b"].c'),
        (("пути", "имя"), "пути.имя"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


def test_issue_text() -> None:
    issue = ConfigIssue("rules.yaml", 14, 7, "operators[2].skills.dsm", "unknown skill 'dsm'")
    assert str(issue) == "rules.yaml:14:7: operators[2].skills.dsm: unknown skill 'dsm'"
    assert str(ConfigIssue("r.yaml", 3, 1, "", "duplicate key 'a'")) == (
        "r.yaml:3:1: duplicate key 'a'"
    )
    assert str(file_issue("r.yaml", "file not found")) == "r.yaml: file not found"


def test_error_holds_every_issue_sorted_and_deduplicated() -> None:
    b = ConfigIssue("r.yaml", 9, 1, "b", "second")
    a = ConfigIssue("r.yaml", 2, 5, "a", "first")
    error = ConfigError([b, a, b])
    assert error.issues == (a, b)
    assert str(error) == "r.yaml:2:5: a: first\nr.yaml:9:1: b: second"


def test_error_needs_an_issue() -> None:
    with pytest.raises(ValueError):
        ConfigError([])


def test_json_rendering() -> None:
    error = ConfigError([ConfigIssue("r.yaml", 2, 5, "skills.dms", "неверно")])
    assert json.loads(error.render_json()) == {
        "ok": False,
        "issues": [
            {"file": "r.yaml", "line": 2, "column": 5, "path": "skills.dms", "message": "неверно"}
        ],
    }
    assert "неверно" in error.render_json()  # readable, not \u-escaped


@pytest.mark.parametrize(
    ("word", "known", "hint"),
    [
        ("dsm", ["dms", "oms", "paid"], " (did you mean 'dms'?)"),
        ("ring_timout", ["ring_timeout_s", "ring_timeout"], " (did you mean 'ring_timeout'?)"),
        ("PAID", ["paid", "oms"], " (did you mean 'paid'?)"),
        ("surgery", ["dms", "oms", "paid"], " (valid: dms, oms, paid)"),
        ("x", [], ""),
    ],
)
def test_suggest(word: str, known: list[str], hint: str) -> None:
    assert suggest(word, known) == hint


def test_suggest_shortens_long_lists() -> None:
    hint = suggest("zzz", [f"skill{n:02}" for n in range(20)], what="known skills")
    assert hint.startswith(" (known skills: skill00, skill01,")
    assert hint.endswith(", …)")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "nothing (the value is empty)"),
        ("abc", "'abc'"),
        (5, "the number 5"),
        (True, "true"),
        ([1], "a list"),
        ({"a": 1}, "a mapping"),
        ("x" * 100, "'" + "x" * 60 + "…'"),
    ],
)
def test_describe(value: object, text: str) -> None:
    assert describe(value) == text


def test_describe_hides_secrets() -> None:
    assert describe("hunter2", secret=True) == "a value that is not shown (secret)"
    assert describe(["hunter2"], secret=True) == "a list"
