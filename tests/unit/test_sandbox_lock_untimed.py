"""The per-test timeout of the real-Asterisk tier counts the test, not the wait for the
sandbox lock (tests/asterisk/conftest.py): a session that waits for another user of its
sandbox instance, longer than a test's timeout, still passes; a fixture that is itself
slow still times out."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from sip_test_harness.instance import ENV, LOCK_ENV

REPO = Path(__file__).resolve().parents[2]

CONFTEST = """
import time

import pytest

from tests.asterisk.conftest import SESSION_LOCK, pytest_runtest_protocol  # noqa: F401


@pytest.fixture(scope="session")
def sandbox():
    SESSION_LOCK.take()
    yield "box"
    SESSION_LOCK.release()


@pytest.fixture
def slow():
    time.sleep(4)
"""

TESTS = """
def test_needs_the_sandbox(sandbox):
    assert sandbox == "box"


def test_slow_fixture(slow):
    pass
"""


def test_the_lock_wait_is_not_timed_but_the_test_is(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_inner.py").write_text(TESTS)
    lock = tmp_path / "box.lock"
    env = {**os.environ, LOCK_ENV: str(lock), "PYTHONPATH": str(REPO)}
    env.pop(ENV, None)  # instance 0: the lock is box.lock itself
    env.pop("PYTEST_XDIST_WORKER", None)
    argv = ["-p", "no:cacheprovider", "-p", "no:xdist", "-s", "--timeout=3", "-rA"]
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another user of the sandbox
        inner = subprocess.Popen(
            [sys.executable, "-m", "pytest", *argv, "test_inner.py"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert inner.stdout is not None
        said = []
        for line in inner.stdout:  # until the session waits for the lock
            said.append(line)
            if line.startswith("waiting for another user of the sandbox"):
                break
        time.sleep(5)  # longer than the timeout
        fcntl.flock(held, fcntl.LOCK_UN)
    out = "".join(said) + inner.communicate(timeout=60)[0]
    assert "PASSED test_inner.py::test_needs_the_sandbox" in out, out
    # a slow fixture is still timed
    assert "ERROR test_inner.py::test_slow_fixture - Failed: Timeout" in out, out
