"""`retention:` in router.yaml: defaults, null for ever, and errors that say what is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config.settings import load_settings
from tests.unit.test_config_settings import ENV, _errors, _write

REPO = Path(__file__).resolve().parents[2]


def test_without_the_section_nothing_is_pruned(tmp_path: Path) -> None:
    """A site upgraded from before `retention:` existed keeps all its history."""
    assert load_settings(_write(tmp_path, "logging:\n"), env=ENV).retention is None
    assert load_settings(_write(tmp_path, "retention:\n"), env=ENV).retention is None


def test_the_defaults_keep_two_years_and_the_audit_log_three(tmp_path: Path) -> None:
    cfg = load_settings(_write(tmp_path, "retention: {}\n"), env=ENV).retention
    assert cfg is not None
    assert cfg.days() == {
        "calls": 730,
        "callbacks": 730,
        "operator_states": 730,
        "audit_log": 1095,
    }
    assert (cfg.batch_rows, cfg.pause_ms, cfg.every_h) == (500, 100, 24)


def test_the_example_config_prunes_with_its_explicit_values() -> None:
    """New installs start from config/router.yaml, which asks for pruning."""
    cfg = load_settings(REPO / "config" / "router.yaml", env=ENV).retention
    assert cfg is not None and cfg.days()["calls"] == 730


def test_null_keeps_a_table_for_ever(tmp_path: Path) -> None:
    text = "retention:\n  calls_days: null\n  operator_states_days: null\n"
    text += "  callbacks_days: null\n"
    cfg = load_settings(_write(tmp_path, text), env=ENV).retention
    assert cfg is not None
    assert cfg.days()["calls"] is None and cfg.days()["operator_states"] is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("retention:\n  calls_days: 7\n", "retention.calls_days: must be at least 31 days"),
        ("retention:\n  audit_log_days: 90\n", "must be at least 365 days (an audit looks back"),
        ("retention:\n  audit_days: 90\n", "retention.audit_days"),
        ("retention:\n  batch_rows: 0\n", "retention.batch_rows"),
        (
            "retention:\n  calls_days: 1000\n  operator_states_days: 400\n",
            "operator_states_days (400) must be at least calls_days (1000)",
        ),
        (
            "retention:\n  calls_days: null\n",
            "operator_states_days (730) must be at least calls_days (null: for ever)",
        ),
        (
            "retention:\n  calls_days: 1000\n  operator_states_days: null\n  callbacks_days: 400\n",
            "callbacks_days (400) must be at least calls_days (1000): the misses",
        ),
        (
            "retention:\n  calls_days: null\n  operator_states_days: null\n",
            "callbacks_days (730) must be at least calls_days (null: for ever)",
        ),
    ],
)
def test_bad_values_are_refused_with_the_key_and_what_is_valid(
    tmp_path: Path, text: str, said: str
) -> None:
    errors = _errors(_write(tmp_path, text))
    assert any(said in e for e in errors), errors
    assert all("router.yaml" in e for e in errors)
