"""Asterisk restarts under the router (`core restart now`): every call in it ends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from router.engine.engine import Engine
from tests.engine.harness import RouterUnderTest
from tests.engine.steps import one_talking_one_waiting, while_socket_is_down
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)


async def test_an_asterisk_restart_ends_the_calls_and_the_router_reconnects(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        talking, waiting = await one_talking_one_waiting(fake)
        await fake.restart_asterisk()
        await fake.until(lambda: router.engine and router.engine.reconciler.runs >= 2)
        await fake.until(lambda: router.engine is not None and not router.engine.live_calls())
        await router.flushed()
        assert router.call(talking)["outcome"] == "answered"  # they did talk
        assert router.call(waiting)["ended_at"] is not None
        assert "asterisk_shutdown" in router.journey(waiting)
        # A caller Asterisk dropped while waiting did not reach anyone: one miss, and a
        # callback task per the policy; the one who talked is no miss.
        assert router.call(waiting)["outcome"] == "failed"
        assert router.misses(waiting) == ["no_operator"]
        assert router.misses(talking) == []
        tasks = router.rows(
            "select t.state from misses m join callback_tasks t on t.id = m.task_id"
            " where m.call_id = ?",
            waiting,
        )
        assert tasks == [("open",)]
        assert fake.leftovers() == []
    finally:
        await router.stop()


async def test_an_asterisk_crash_is_not_the_callers_giving_up(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """`kill -9` of Asterisk sends nothing: no hang-up request, no BYE. The reconnect
    finds a new Asterisk (its start time) with no channels. As for a restart: the waiting
    caller is `failed` and one `no_operator` miss (not `abandoned`: they did not give up,
    and a short wait is no reason to skip their callback), the talker stays `answered`."""
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        talking, waiting = await one_talking_one_waiting(fake)
        engine = router.engine
        assert engine is not None
        await fake.until(lambda: engine.ctx.room.is_waiting(waiting))  # in line, no request
        await fake.crash_asterisk()
        await fake.until(lambda: router.engine is not None and not router.engine.live_calls())
        await router.flushed()
        assert router.call(talking)["outcome"] == "answered"
        assert router.misses(talking) == []
        assert router.call(waiting)["outcome"] == "failed"
        assert router.misses(waiting) == ["no_operator"]
        assert "asterisk_shutdown" in router.journey(waiting)
    finally:
        await router.stop()


async def callers_after_an_unread_start(
    fake: FakeAsterisk, engine: Engine, drop: Callable[[], Awaitable[None]]
) -> tuple[str, str]:
    """Once the router has seen Asterisk's start time, `drop` (the socket, or Asterisk
    itself) and a reconnect whose `GET /asterisk/info` fails; then a caller talks and
    another waits."""
    await fake.until(lambda: engine.reconciler.runs >= 1 and fake.quiet())  # start seen
    info = fake.fail("GET", r"/asterisk/info")
    await drop()
    await fake.until(lambda: info.hits >= 1 and engine.reconciler.runs >= 2)
    talking, waiting = await one_talking_one_waiting(fake)
    await fake.until(lambda: engine.ctx.room.is_waiting(waiting))
    return talking, waiting


async def test_a_crash_is_known_after_a_reconnect_that_could_not_read_the_start_time(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """A reconnect whose `GET /asterisk/info` failed keeps the start time seen before: a
    crash after it is still a crash (the waiting caller `failed`, a `no_operator` miss),
    not a caller who gave up. (It forgot the start, and the crash read as no restart.)"""
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        engine = router.engine
        assert engine is not None
        talking, waiting = await callers_after_an_unread_start(fake, engine, fake.drop_socket)
        await fake.crash_asterisk()
        await fake.until(lambda: not engine.live_calls())
        await router.flushed()
        assert router.call(talking)["outcome"] == "answered"
        assert router.call(waiting)["outcome"] == "failed"
        assert router.misses(waiting) == ["no_operator"]
    finally:
        await router.stop()


async def test_an_asterisk_crash_while_the_router_is_down_too(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """Both gone (a host reboot): the restarted router finds the open calls' channels
    gone and an Asterisk started after them: cut by the PBX, not lost by the callers."""
    first = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await first.start()
    talking, waiting = await one_talking_one_waiting(fake)
    await first.flushed()
    await first.kill()
    await fake.crash_asterisk()
    second = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await second.start()
    try:
        await fake.until(lambda: second.call(waiting)["outcome"] is not None)
        await second.flushed()
        assert second.call(talking)["outcome"] == "answered"
        assert second.call(waiting)["outcome"] == "failed"
        assert second.misses(waiting) == ["no_operator"]
        assert second.misses(talking) == []
    finally:
        await second.stop()


async def test_a_crash_noticed_at_a_later_reconnect_takes_only_the_calls_it_cut(
    fake: FakeAsterisk, tmp_path: Path
) -> None:
    """The reconnect after a crash could not read Asterisk's start time; the restart is
    noticed at the next reconnect. A caller who arrived after the crash and hung up while
    the socket was down gave up (abandoned, as without a restart): only a call begun
    before Asterisk's start was cut by it. (All were marked gone with Asterisk: failed.)"""
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",))
    await router.start()
    try:
        engine = router.engine
        assert engine is not None
        talking, waiting = await callers_after_an_unread_start(fake, engine, fake.crash_asterisk)
        await while_socket_is_down(fake, router, lambda: fake.caller_hangs_up(waiting))
        await fake.until(lambda: router.call(waiting)["outcome"] is not None)
        await router.flushed()
        assert router.call(waiting)["outcome"] == "abandoned"
        assert "asterisk_shutdown" not in router.journey(waiting)
        assert router.call(talking)["ended_at"] is None  # still talking, in the new Asterisk
    finally:
        await router.stop()
