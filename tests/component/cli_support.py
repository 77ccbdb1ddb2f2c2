"""Shared by the CLI component tests: a `clinic-router` command run in this process.

`router.cli.main.main` is what `python -m router` calls; run here, with its environment
set and its output captured, it costs no new Python (4-5 s of imports on the 2-core
machine idle, over 10 s loaded). Each test file keeps one real command line, where a
traceback or a second stderr line would show: `run_cli`, `python -m router ...` as an
admin runs it on a given database (the example settings, secrets and database URL from
the environment).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from router.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, db_url: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m router ARGS --config config/router.yaml` in a new process."""
    env = {
        "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
        "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
        "CLINIC_ROUTER_DB_URL": db_url,
    }
    settings = str(REPO / "config" / "router.yaml")
    return subprocess.run(
        [sys.executable, "-m", "router", *args, "--config", settings],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO,
        env={**os.environ, **env},
    )


def main_in_process(
    argv: list[str],
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> subprocess.CompletedProcess[str]:
    """`clinic-router ARGV` with `env` added: exit code, stdout and stderr, as a process's."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()  # what came before is not this command's
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse and bad settings exit; so would the process
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)
