"""Routers forked from a process that has imported the router already.

A new `python -m router run` spends 4-5 s importing on this 2-core machine idle and
15-20 s at load average 10, before it reads its settings: most of a short sandbox
test, and ~100 router starts in the suite. `multiprocessing`'s fork server imports the
router once (`PRELOAD`, in a process of its own: never a fork of the test process with
its event loop and threads) and forks a child per router, which runs the same
`router.cli.main.main(["run", "--config", ...])` that `python -m router` runs, with the
router's own environment, working folder and log file. The child is a real process
with its own PID: tests signal, freeze and kill it as before (`ForkedRouter` has the
part of `subprocess.Popen` that `RouterProcess` uses). A forked child starts with fresh
interpreter state but the imported modules, so nothing the router sets up at run time
(logging, the event loop, signal handlers) comes from the parent.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from multiprocessing.process import BaseProcess
from pathlib import Path

# What the fork server imports once: everything `router run` imports on its way up.
PRELOAD = ["router.app", "router.cli.main"]


def _run_router(argv: list[str], env: dict[str, str], cwd: str, log_path: str) -> None:
    """In the forked child: what `python -m router ARGV` does, output to `log_path`."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    from router.cli.main import main

    sys.exit(main(argv))


def start_forked(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> ForkedRouter:
    """Fork a router child running `clinic-router ARGV`; it does not outlive the test
    process (daemon: terminated when the test session ends)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # read when the fork server starts (once)
    process = context.Process(
        target=_run_router,
        args=(argv, env, str(cwd), str(log_path)),
        name="clinic-router",
        daemon=True,
    )
    process.start()
    return ForkedRouter(process)


class ForkedRouter:
    """The part of `subprocess.Popen` that `RouterProcess` uses, for a forked router."""

    def __init__(self, process: BaseProcess) -> None:
        self._process = process
        assert process.pid is not None
        self.pid: int = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: the signal that ended it); TimeoutExpired if the
        router still runs after `timeout` seconds."""
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(["clinic-router", "run"], timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
