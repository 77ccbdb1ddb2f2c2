"""The safe YAML reader: plain data, positions, and no YAML 1.1 surprises."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import router.config.yamltree as yamltree
from router.config.errors import ConfigError
from router.config.yamlsafe import Mark, load_yaml, parse_yaml, resolve_plain


def _data(text: str) -> Any:
    return parse_yaml(text.encode("utf-8"), "t.yaml").data


def _error(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    with pytest.raises(ConfigError) as info:
        parse_yaml(raw, "t.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("9:00", "9:00"),  # YAML 1.1: 540
        ("09:30", "09:30"),
        ("190:20:30", "190:20:30"),
        ("no", "no"),  # YAML 1.1: False (the Norway problem)
        ("yes", "yes"),
        ("on", "on"),
        ("off", "off"),
        ("+74952232222", "+74952232222"),  # a number would lose the '+'
        ("84952232222", 84952232222),
        ("0123", "0123"),  # YAML 1.1: octal 83
        ("0x1F", "0x1F"),
        ("1_000", "1_000"),
        ("2026-12-31", "2026-12-31"),  # YAML 1.1: a date object
        ("1.50", "1.50"),  # a float would lose the '0'
        ("1e3", "1e3"),
        (".inf", ".inf"),
        (".nan", ".nan"),
        ("15", 15),
        ("-3", -3),
        ("0", 0),
        ("0.5", 0.5),
        ("15.0", 15.0),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("9" * 40, "9" * 40),  # never hits int()'s digit limit
    ],
)
def test_plain_scalars_resolve_without_yaml_1_1_surprises(text: str, value: Any) -> None:
    assert resolve_plain(text) == value
    assert type(resolve_plain(text)) is type(value)
    assert _data(f"k: {text}\n") == {"k": value}


def test_quoted_scalars_stay_text() -> None:
    assert _data("a: '15'\nb: \"true\"\nc: '~'\n") == {"a": "15", "b": "true", "c": "~"}


def test_keys_are_the_text_as_written() -> None:
    assert _data("1: one\ntrue: yes\n9:00: x\n") == {"1": "one", "true": "yes", "9:00": "x"}


def test_standard_tags_are_allowed() -> None:
    data = _data("a: !!str 5\nb: !!int 5\nc: !!float 5\nd: !!bool true\ne: !!null ''\nf: ! 7\n")
    # `!` (non-specific) reaches PyYAML's resolver as a plain scalar would: resolved alike.
    assert data == {"a": "5", "b": 5, "c": 5.0, "d": True, "e": None, "f": 7}


def test_a_standard_tag_must_fit_its_value() -> None:
    assert "t.yaml:1:4: 'true' does not fit its tag !!int" in _error("a: !!int true\n")


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system [ls]\n",
        "a: !!python/name:os.system\n",
        "a: !!binary aGk=\n",
        "a: !!timestamp 2026-01-01\n",
        "a: !!set {x, y}\n",
        "a: !!omap [{x: 1}]\n",
        "a: !secret db_password\n",
        "!!python/object:collections.OrderedDict\na: 1\n",
    ],
)
def test_non_data_tags_are_rejected(text: str) -> None:
    assert "is not allowed: config files hold plain data only" in _error(text)


def test_positions_of_keys_and_values() -> None:
    doc = parse_yaml(
        b"operators:\n  - id: op1\n    skills:\n      dms: 4\n    languages: [ru, en]\n",
        "t.yaml",
    )
    positions = doc.positions
    assert positions.key(("operators", 0, "skills", "dms")) == Mark(4, 7)
    assert positions.value(("operators", 0, "skills", "dms")) == Mark(4, 12)
    assert positions.value(("operators", 0, "languages", 1)) == Mark(5, 21)
    # A block value starts on the next line: problems with it point at its key.
    assert positions.locate(("operators", 0, "skills")) == Mark(3, 5)
    # A flow value on the same line: point at the value.
    assert positions.locate(("operators", 0, "languages")) == Mark(5, 16)
    # Unknown paths resolve to the nearest known parent.
    assert positions.locate(("operators", 0, "skills", "dms", "x")) == Mark(4, 12)
    assert positions.locate(("nothing",)) == Mark(1, 1)
    issue = doc.issue(("operators", 0, "skills", "dms"), "boom")
    assert str(issue) == "t.yaml:4:12: operators[0].skills.dms: boom"


def test_columns_count_characters_not_bytes() -> None:
    doc = parse_yaml("имя: Анна\nфамилия: x\n".encode(), "t.yaml")
    assert doc.positions.value(("имя",)) == Mark(1, 6)
    assert doc.positions.value(("фамилия",)) == Mark(2, 10)


def test_anchors_aliases_and_merge_keys() -> None:
    text = (
        "base: &front {paid: 3, oms: 2}\n"
        "ops:\n"
        "  - skills: *front\n"
        "  - skills:\n"
        "      <<: *front\n"
        "      oms: 5\n"
        "  - skills:\n"
        "      <<: [{dms: 1}, *front]\n"
    )
    doc = parse_yaml(text.encode(), "t.yaml")
    assert doc.data["ops"] == [
        {"skills": {"paid": 3, "oms": 2}},
        {"skills": {"oms": 5, "paid": 3}},
        {"skills": {"dms": 1, "paid": 3, "oms": 2}},
    ]
    # An alias's value is placed where its anchor wrote it (PyYAML's composer hands the
    # anchored node itself to every alias); the key stays where it is used.
    assert doc.positions.value(("ops", 0, "skills")) == Mark(1, 7)
    assert doc.positions.key(("ops", 0, "skills")) == Mark(3, 5)
    assert doc.positions.value(("ops", 1, "skills", "paid")) == Mark(1, 21)
    # Expanded data is independent: changing one copy does not change another.
    doc.data["ops"][0]["skills"]["paid"] = 9
    assert doc.data["base"]["paid"] == 3


def test_a_merge_needs_mappings() -> None:
    assert "'<<' (merge) needs a mapping or a list of mappings" in _error("a:\n  <<: 5\n")


def test_duplicate_keys_are_all_reported_at_the_second_occurrence() -> None:
    message = _error("a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\na: 2\n")
    assert message.splitlines() == [
        "t.yaml:5:3: duplicate key 'x' (first defined at line 3)",
        "t.yaml:6:1: duplicate key 'a' (first defined at line 1)",
    ]


def test_quoted_and_plain_spellings_of_a_key_are_duplicates() -> None:
    assert "duplicate key '1'" in _error("1: a\n'1': b\n")


def test_collection_keys_are_rejected() -> None:
    assert "a key must be plain text" in _error("? [a, b]\n: 1\n")


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n", "---\n", "~\n", "--- # nothing\n...\n"]
)
def test_empty_files(text: str) -> None:
    assert _error(text) == "t.yaml: the file is empty (nothing but comments)"


def test_one_document_per_file() -> None:
    assert "a second YAML document" in _error("a: 1\n---\nb: 2\n")


def test_recursive_alias_is_rejected() -> None:
    assert "refers to the collection that contains it" in _error("a: &a [1, *a]\n")


def test_utf8_bom_is_accepted() -> None:
    assert parse_yaml("\ufeffa: б\n".encode(), "t.yaml").data == {"a": "б"}


def test_size_cap_is_configurable() -> None:
    with pytest.raises(ConfigError, match="larger than the 100 bytes limit"):
        parse_yaml(b"a: " + b"x" * 200, "t.yaml", max_bytes=100)


def test_content_hash() -> None:
    doc = parse_yaml(b"a: 1\n", "t.yaml")
    assert doc.sha256 == hashlib.sha256(b"a: 1\n").hexdigest()
    assert doc.sha256 != parse_yaml(b"a: 2\n", "t.yaml").sha256


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^missing\.yaml: file not found$"):
        load_yaml(tmp_path / "missing.yaml", source="missing.yaml")
    with pytest.raises(ConfigError, match="this is a folder, not a file"):
        load_yaml(tmp_path)


def test_the_source_name_is_used_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_yaml(path, source="config/rules.yaml")
    assert str(info.value) == "config/rules.yaml:2:1: duplicate key 'a' (first defined at line 1)"


LOADERS = [yaml.SafeLoader, *([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])]


def _parse_with_each_loader(raw: bytes) -> None:
    """Both parsers must give data or a ConfigError, never another exception."""
    saved = yamltree.LOADER
    try:
        for loader in LOADERS:
            yamltree.LOADER = loader
            try:
                parse_yaml(raw, "t.yaml")
            except ConfigError as e:
                assert e.issues
                assert all(i.file == "t.yaml" for i in e.issues)
                assert all(i.line is None or i.line >= 1 for i in e.issues)
    finally:
        yamltree.LOADER = saved


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_data_or_a_config_error(raw: bytes) -> None:
    _parse_with_each_loader(raw)


YAMLISH = st.text(alphabet=st.sampled_from(list("ab:- \n\t[]{},'\"&*!#|>%@`?~9.\\<")), max_size=80)


@settings(max_examples=500, deadline=None)
@given(YAMLISH)
def test_yaml_like_text_gives_data_or_a_config_error(text: str) -> None:
    _parse_with_each_loader(text.encode("utf-8"))


@pytest.mark.parametrize("loader", LOADERS)
def test_composer_faults_are_told_in_the_admins_words(
    loader: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamltree, "LOADER", loader)
    assert _error("a: &x 1\nb: &x 2\n") == (
        "t.yaml:2:4: the anchor '&x' is defined twice (first at line 1): rename one"
    )
    assert _error("a: [1, *front]\n") == (
        "t.yaml:1:8: unknown alias '*front': no anchor '&front' above it"
    )
    assert _error("a: 1\n---\nb: 2\n").startswith("t.yaml:2:1: a second YAML document")
    deep = "a: " + "[" * 70 + "]" * 70 + "\n"  # deeper than 64, far below libyaml's own 1,000
    assert "nested more than 64 levels deep" in _error(deep)


def test_shared_values_are_counted_without_being_expanded() -> None:
    # 10 aliases of a 100,000-value list: a million values, refused before any copy is made
    big = "[" + ", ".join("1" for _ in range(100_000)) + "]"
    text = f"a: &a {big}\nb: [{', '.join('*a' for _ in range(10))}]\n"
    assert "expands to more than 500000 values through aliases" in _error(text)
