"""The database failing mid-call: calls go on, and what they wrote arrives once it is back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.engine.harness import RouterUnderTest
from tests.engine.steps import one_talking_one_waiting, talk_then_hang_up
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


def take_write_lock(db: sqlite3.Connection) -> bool:
    """Try once to hold the database's write lock (the router may be writing just now)."""
    try:
        db.execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError:
        return False
    return True


async def test_database_locked_mid_call_nothing_is_lost(fake: FakeAsterisk, tmp_path: Path) -> None:
    """Another process holds the SQLite file's write lock while one caller talks and
    another gives up: both calls go on, and once the lock is gone the journeys and the
    miss are written, the miss once."""
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",), busy_timeout_ms=20)
    await router.start()
    # timeout=0: never block the event loop (the router shares it) waiting for the lock.
    other = sqlite3.connect(router.db_path, isolation_level=None, timeout=0)
    try:
        first, second = await one_talking_one_waiting(fake)
        await fake.until(lambda: take_write_lock(other))  # the router's writes fail from now on
        fake.caller_hangs_up(second)
        await talk_then_hang_up(fake, first)
        await fake.until(lambda: router.write_failures > 0)  # the writes did fail meanwhile
        other.execute("ROLLBACK")
        await router.flushed()
        assert router.call(first)["outcome"] == "answered"
        assert router.call(second)["outcome"] == "abandoned"
        assert router.misses(second) == ["abandoned"]
        assert router.misses(first) == []
    finally:
        other.close()
        await router.stop()
