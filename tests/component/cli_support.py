"""Shared by the CLI component tests: a `clinic-router` command run in this process.

`router.cli.main.main` is what `python -m router` calls; run here, with its environment
set, its standard input given and its output captured, it costs no new Python (4-5 s of
imports on the 2-core machine idle, over 10 s loaded). Each test file keeps one real
command line, where a traceback or a second stderr line would show: `run_cli`,
`python -m router ...` as an admin runs it on a given database (the example settings,
secrets and database URL from the environment). `cli_in_process` runs the same command
line in this process (the `cli` fixture of conftest.py).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from router.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SETTINGS = str(REPO / "config" / "router.yaml")
SECRETS = {
    "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
    "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
}
Cli = Callable[..., subprocess.CompletedProcess[str]]


def _env(db_url: str, env: dict[str, str] | None) -> dict[str, str]:
    return {**SECRETS, "CLINIC_ROUTER_DB_URL": db_url, **(env or {})}


def run_cli(
    *args: str,
    db_url: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m router ARGS --config config/router.yaml` in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "router", *args, "--config", SETTINGS],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO,
        env={**os.environ, **_env(db_url, env)},
    )


def main_in_process(
    argv: list[str],
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`clinic-router ARGV` with `env` added: exit code, stdout and stderr, as a process's."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()  # what came before is not this command's
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse and bad settings exit; so would the process
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


def cli_in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`run_cli`'s command line, run by `main_in_process`."""

    def run(
        *args: str, db_url: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [*args, "--config", SETTINGS]
        return main_in_process(argv, _env(db_url, env), capsys, monkeypatch, stdin)

    return run
