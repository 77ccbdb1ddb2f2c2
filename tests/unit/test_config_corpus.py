"""The corpus of broken config files: each is rejected with the right file, line and message.

Text files under tests/data/config/{rules,settings}/ state what they expect in comments:

    # expect: LINE:COLUMN KEY.PATH: message fragment     (`-` for a whole-file problem)

The test asserts that the issues found are exactly the expected ones: same count, same
position, same key path, message containing the fragment. Binary cases are listed below.
Every case runs with both the libyaml and the pure-Python parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import router.config.yamltree as yamltree
from router.config.errors import ConfigError, ConfigIssue
from router.config.rules import load_rules
from router.config.settings import load_settings

DATA = Path(__file__).resolve().parents[1] / "data" / "config"
EXPECT = re.compile(r"^# expect: (?P<pos>\d+:\d+|-) (?P<path>.*?): (?P<msg>.+)$")
ENV = {"CLINIC_ROUTER_ARI_PASSWORD": "ari-secret", "CLINIC_ROUTER_API_TOKEN": "t" * 20}
SECRETS_IN_CORPUS = ("hunter2", "tiny-secret")

LOADERS = [pytest.param(yaml.SafeLoader, id="pure-python")]
if hasattr(yaml, "CSafeLoader"):
    LOADERS.append(pytest.param(yaml.CSafeLoader, id="libyaml"))


@pytest.fixture(params=LOADERS)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    monkeypatch.setattr(yamltree, "LOADER", request.param)
    return type(request.param)


def _text_cases(kind: str) -> Iterator[Path]:
    for path in sorted((DATA / kind).glob("*.yaml")):
        head = path.read_bytes()[:4000]
        if b"# expect:" in head:
            yield path


def _expectations(path: Path) -> list[tuple[int | None, int | None, str, str]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = EXPECT.match(line)
        if m:
            pos = m["pos"]
            line_no, col = (None, None) if pos == "-" else map(int, pos.split(":"))
            found.append((line_no, col, m["path"], m["msg"]))
    assert found, f"{path.name} has no expectations"
    return found


def _issues(kind: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ConfigIssue, ...]:
    monkeypatch.chdir(path.parent)
    with pytest.raises(ConfigError) as info:
        if kind == "rules":
            load_rules(path.name)
        else:
            load_settings(path.name, env=ENV)
    return info.value.issues


def _assert_matches(path: Path, issues: tuple[ConfigIssue, ...]) -> None:
    expected = _expectations(path)
    rendered = "\n".join(str(i) for i in issues)
    assert len(issues) == len(expected), rendered
    for line, column, key_path, fragment in expected:
        hits = [
            i
            for i in issues
            if (i.line, i.column, i.path) == (line, column, key_path) and fragment in i.message
        ]
        assert hits, f"expected {line}:{column} {key_path}: {fragment}\ngot:\n{rendered}"
    for issue in issues:
        assert issue.file == path.name
        for secret in SECRETS_IN_CORPUS:
            assert secret not in str(issue)


@pytest.mark.parametrize("path", list(_text_cases("rules")), ids=lambda p: p.name)
def test_broken_rules_file(path: Path, loader: type, monkeypatch: pytest.MonkeyPatch) -> None:
    _assert_matches(path, _issues("rules", path, monkeypatch))


@pytest.mark.parametrize("path", list(_text_cases("settings")), ids=lambda p: p.name)
def test_broken_settings_file(path: Path, loader: type, monkeypatch: pytest.MonkeyPatch) -> None:
    _assert_matches(path, _issues("settings", path, monkeypatch))


BINARY_CASES = [
    ("binary-garbage.yaml", 1, 4, "contains a NUL byte: it looks like a binary file"),
    ("nul-bytes.yaml", 5, 13, "contains a NUL byte"),
    ("invalid-utf8.yaml", 2, 9, "not valid UTF-8 text (byte 0xcf); save the file as UTF-8"),
    ("control-chars.yaml", 2, 14, "control character U+001B"),
    ("utf16.yaml", None, None, "the file is UTF-16 text; save it as UTF-8"),
]


@pytest.mark.parametrize(("name", "line", "column", "fragment"), BINARY_CASES)
def test_binary_rules_file(
    name: str,
    line: int | None,
    column: int | None,
    fragment: str,
    loader: type,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issues = _issues("rules", DATA / "rules" / name, monkeypatch)
    assert len(issues) == 1, issues
    (issue,) = issues
    assert (issue.file, issue.line, issue.column, issue.path) == (name, line, column, "")
    assert fragment in issue.message


def test_corpus_is_big_enough() -> None:
    text_cases = list(_text_cases("rules")) + list(_text_cases("settings"))
    assert len(text_cases) + len(BINARY_CASES) >= 40


def test_too_large_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "rules.yaml"
    line = b"# " + b"x" * 1021 + b"\n"
    big.write_bytes(b"operators: []\n" + line * (10 * 1024))  # about 10 MB
    with pytest.raises(ConfigError) as info:
        load_rules(big, source="rules.yaml")
    (issue,) = info.value.issues
    assert issue.file == "rules.yaml"
    assert issue.line is None
    assert "the file is 10.0 MB, larger than the 2.0 MB limit" in issue.message


def test_deep_nesting_is_refused_quickly(tmp_path: Path, loader: type) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("skills: " + "[" * 200_000, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_rules(deep, source="deep.yaml")
    (issue,) = info.value.issues
    # The column is where the parser's buffer stood (libyaml reads ahead by a release-dependent
    # amount: 72 on PyYAML 6.0.3, 1008 on 6.0.4): only the refusal, the line and the reason matter.
    assert issue.line == 1
    assert "nested more than 64 levels deep" in issue.message
