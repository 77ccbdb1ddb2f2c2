"""The sandbox tests' forked routers (sip_test_harness/router_fork.py) behave as the
process `python -m router` would: its output in the log file, its environment, its
exit code, and a PID of its own to signal."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sip_test_harness.router_fork import start_forked
from sip_test_harness.router_process import free_port

REPO = Path(__file__).resolve().parents[2]


def test_the_command_writes_its_log_and_exits_with_its_code(tmp_path: Path) -> None:
    log = tmp_path / "router.log"
    log.write_text("before\n", encoding="utf-8")
    missing = tmp_path / "nowhere.yaml"
    # a relative path: found from the child's own working folder
    child = start_forked(["check", missing.name], {"PATH": os.defpath}, tmp_path, log)
    assert child.wait(120) == 1  # `check`: problems found
    assert child.poll() == child.returncode == 1
    text = log.read_text(encoding="utf-8")
    assert text.startswith("before\n")  # appended, as the router's log is on a restart
    assert "nowhere.yaml: file not found" in text and "1 problem found" in text


def test_a_running_router_is_a_process_of_its_own_to_stop_and_kill(tmp_path: Path) -> None:
    settings = tmp_path / "router.yaml"
    rules = REPO / "config" / "rules.yaml"
    settings.write_text(
        "ari: {url: 'http://127.0.0.1:9/ari', username: u, password_env: ARI_SECRET}\n"
        f"database: {{url: 'sqlite+aiosqlite:///{tmp_path / 'router.db'}'}}\n"
        f"http: {{host: 127.0.0.1, port: {free_port()}, token_env: API_TOKEN}}\n"
        f"routing: {{rules: '{rules}'}}\n",
        encoding="utf-8",
    )
    env = {"PATH": os.defpath, "ARI_SECRET": "secret-secret", "API_TOKEN": "t" * 20}
    log = tmp_path / "router.log"
    child = start_forked(["run", "--config", str(settings)], env, tmp_path, log)
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and "HTTP API on" in log.read_text(encoding="utf-8")):
            assert child.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the forked router wrote no log"
            time.sleep(0.1)  # polling a file for a child process, bounded
        assert child.pid != os.getpid() and child.poll() is None  # retries ARI: up
        child.send_signal(signal.SIGSTOP)  # frozen: does not exit
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(0.5)
        child.send_signal(signal.SIGCONT)
        child.kill()
        assert child.wait(30) == -signal.SIGKILL
    finally:
        child.kill()  # nothing once it has exited
