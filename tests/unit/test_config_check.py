"""`clinic-router check`: exit codes and output, text and JSON, never a traceback."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from router.config.check import run_check

REPO = Path(__file__).resolve().parents[2]
ENV = {"CLINIC_ROUTER_ARI_PASSWORD": "ari-secret-42", "CLINIC_ROUTER_API_TOKEN": "t" * 24}
VERSION = hashlib.sha256((REPO / "config" / "rules.yaml").read_bytes()).hexdigest()[:12]


def _run(path: str | None, fmt: str = "text", env: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = run_check(path, fmt, env=ENV if env is None else env, out=out)  # type: ignore[arg-type]
    return code, out.getvalue()


@pytest.fixture
def repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.fixture
def config_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "config"


@pytest.mark.parametrize("path", [None, "config", "config/router.yaml"])
def test_the_example_config_passes(repo_cwd: None, path: str | None) -> None:
    assert _run(path) == (
        0,
        f"config/router.yaml: OK (rules config/rules.yaml version {VERSION},"
        " 8 operators, 8 skills)\n",
    )


def test_a_rules_file_alone(repo_cwd: None) -> None:
    assert _run("config/rules.yaml") == (
        0,
        f"config/rules.yaml: OK (version {VERSION}, 8 operators, 8 skills)\n",
    )


def test_json_ok(repo_cwd: None) -> None:
    code, out = _run("config", "json")
    assert code == 0
    assert json.loads(out) == {
        "ok": True,
        "settings": "config/router.yaml",
        "rules": {"file": "config/rules.yaml", "version": VERSION, "operators": 8, "skills": 8},
        "warnings": [],
    }


def test_errors_in_both_files_are_all_reported(config_copy: Path) -> None:
    router = config_copy / "router.yaml"
    router.write_text(router.read_text().replace("  ring_timeout_s: 15", "  ring_timout_s: 15"))
    rules = config_copy / "rules.yaml"
    rules.write_text(rules.read_text().replace("{paid: 4, dms: 5", "{paid: 4, dsm: 5"))
    code, out = _run("config")
    assert code == 1
    assert out.splitlines() == [
        "config/router.yaml:32:3: routing.ring_timout_s: unknown key 'ring_timout_s'"
        " (did you mean 'ring_timeout_s'?)",
        "config/rules.yaml:39:23: operators[1].skills.dsm: unknown skill 'dsm'"
        " (did you mean 'dms'?)",
        "2 problems found",
    ]


def test_json_errors(config_copy: Path) -> None:
    rules = config_copy / "rules.yaml"
    appended_at = len(rules.read_text().splitlines()) + 1  # the example file grows over time
    rules.write_text(rules.read_text() + "operators: []\n")
    code, out = _run("config/rules.yaml", "json")
    assert code == 1
    assert json.loads(out) == {
        "ok": False,
        "issues": [
            {
                "file": "config/rules.yaml",
                "line": appended_at,
                "column": 1,
                "path": "",
                "message": "duplicate key 'operators' (first defined at line 26)",
            }
        ],
    }


def test_missing_secrets_fail_the_check(repo_cwd: None) -> None:
    code, out = _run("config", env={})
    assert code == 1
    assert "CLINIC_ROUTER_ARI_PASSWORD" in out
    assert "CLINIC_ROUTER_API_TOKEN" in out


def test_secrets_never_appear_in_the_output(config_copy: Path) -> None:
    router = config_copy / "router.yaml"
    router.write_text(
        router.read_text() + "extra:\n  password: inline-secret-1\n" + "\n".join(["", "# trailing"])
    )
    env = {**ENV, "CLINIC_ROUTER_DB_URL": "mysql://u:db-secret-2@h/x"}
    for fmt in ("text", "json"):
        code, out = _run("config", fmt, env=env)
        assert code == 1
        for secret in ("inline-secret-1", "db-secret-2", "ari-secret-42", "t" * 24):
            assert secret not in out


def test_a_missing_rules_file_is_reported_against_the_settings(config_copy: Path) -> None:
    (config_copy / "rules.yaml").unlink()
    code, out = _run("config")
    assert code == 1
    assert out.splitlines()[0].startswith(
        "config/router.yaml:31:10: routing.rules: the rules file "
    )
    assert out.splitlines()[0].endswith("config/rules.yaml does not exist")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "config/router.yaml: the file is empty (nothing but comments)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "config/router.yaml:3:1: the file contains a NUL byte"),
        (b"ari: !!python/object/apply:os.system [id]\n", "config/router.yaml:1:6: the YAML tag"),
    ],
)
def test_bad_input_is_an_error_not_a_traceback(
    config_copy: Path, content: bytes, message: str
) -> None:
    (config_copy / "router.yaml").write_bytes(content)
    code, out = _run("config")
    assert code == 1
    assert out.startswith(message)


def test_a_missing_path(config_copy: Path) -> None:
    assert _run("nowhere/router.yaml") == (
        1,
        "nowhere/router.yaml: file not found\n1 problem found\n",
    )


def test_an_unknown_file_kind_is_read_as_rules(config_copy: Path) -> None:
    (config_copy / "other.yaml").write_text("operatorz: []\n")
    code, out = _run("config/other.yaml")
    assert code == 1
    assert (
        "config/other.yaml:1:1: operatorz: unknown key 'operatorz' (did you mean 'operators'?)"
        in out.splitlines()
    )
