"""Fixtures of the real-Asterisk tier: the sandbox, once per test session.

Under pytest-xdist every worker is a session of its own: worker ``gwK`` uses sandbox
instance B+K (sip_test_harness/instance.py: Asterisk on 127.0.N.1, its own lock), where
B is ``$CLINIC_ROUTER_SANDBOX_INSTANCE`` (0 when unset), so the workers' calls never meet.
With ``--dist loadfile`` (make test) a file runs whole on one worker, as in one process;
files that share something outside the sandbox run on one worker in turn
(tests/conftest.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from router.engine.fallback_misses import FAMILY
from router.engine.fallback_served import FAMILY as SERVED_FAMILY
from sip_test_harness import instance
from sip_test_harness.lock import sandbox_lock
from sip_test_harness.sandbox import Sandbox

_worker = instance.for_xdist_worker(os.environ.get("PYTEST_XDIST_WORKER"))
if _worker is not None:  # set before any test module asks the harness for a default
    os.environ[instance.ENV] = str(instance.current().number + _worker)


class SessionLock:
    """The instance's sandbox lock, held from the first test that needs the sandbox to
    the end of the session."""

    def __init__(self) -> None:
        self._held = ExitStack()
        self.held = False

    def take(self) -> None:
        """Wait for the lock (another session, a demo, a load run may hold it)."""
        if not self.held:
            self._held.enter_context(sandbox_lock())
            self.held = True

    def release(self) -> None:
        self._held.close()
        self.held = False


SESSION_LOCK = SessionLock()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """What is not the test happens here, before pytest-timeout's per-test timer starts
    (its own wrapper of this hook, inside this one): the wait for the sandbox lock (the
    time another user of the instance kept it), and a fresh clone's debootstrap of a
    router host's Debian root (tests/asterisk/stock_root.py)."""
    names = getattr(item, "fixturenames", ())
    if "sandbox" in names:
        SESSION_LOCK.take()
    callspec = getattr(item, "callspec", None)
    if "router_host" in names and callspec is not None:
        from tests.asterisk.stock_root import prepare_release_root

        prepare_release_root(callspec.params["router_host"])
    yield


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The Asterisk sandbox, up for the whole session.

    Builds the Debian root on first use (about 1 min). If the sandbox was already up
    (``python -m sip_test_harness sandbox up``) it is reloaded and left up afterwards;
    if this session started it, this session takes it down again.
    """
    SESSION_LOCK.take()  # taken already, untimed, by pytest_runtest_protocol
    try:
        box = Sandbox()
        started_here = box.pid() is None
        box.up()
        try:
            yield box
        finally:
            if started_here:
                box.down()
    finally:
        SESSION_LOCK.release()


@pytest.fixture(autouse=True)
def no_fallback_records(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test sees another's fallback records: an unanswered fallback call leaves one in
    AstDB (which outlives Asterisk restarts), and the next router to connect turns it
    into a call and a miss of its own (docs/callbacks.md); an answered one leaves one the
    router journals as a call served by the fallback."""
    if "sandbox" not in request.fixturenames:
        yield
        return
    box: Sandbox = request.getfixturevalue("sandbox")
    if box.pid() is None:  # a test before left it down (a failed restart): not this one's fault
        box.up()
    for family in (FAMILY, SERVED_FAMILY):
        box.cli(f"database deltree {family}")
    yield
    for family in (FAMILY, SERVED_FAMILY):
        box.cli(f"database deltree {family}")
