"""The `clinic-router` command on bad input: one line per problem, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
        "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
    }
    return subprocess.run(
        [sys.executable, "-m", "router", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**base, **(env or {})},
    )


def test_bad_settings_file_gives_one_line_with_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "router.yaml"
    bad.write_text(
        (REPO / "config" / "router.yaml")
        .read_text()
        .replace("ring_timeout_s: 15", "ring_timout_s: 15")
        .replace("rules: rules.yaml", f"rules: {REPO / 'config' / 'rules.yaml'}")
    )
    result = run("run", "--config", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{bad}:")
    assert "routing.ring_timout_s" in lines[0] and "did you mean 'ring_timeout_s'" in lines[0]


def test_missing_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run("run", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nope.yaml" in result.stderr


def test_missing_secret_names_the_environment_variable(tmp_path: Path) -> None:
    result = run(
        "run",
        "--config",
        str(REPO / "config" / "router.yaml"),
        env={"CLINIC_ROUTER_ARI_PASSWORD": ""},
    )
    assert result.returncode == 2
    assert "CLINIC_ROUTER_ARI_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr


def test_example_configuration_passes_check() -> None:
    result = run("check", str(REPO / "config" / "router.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
