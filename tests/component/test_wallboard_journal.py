"""The wallboard's day figures follow the journal as the router queues it: a call that
ends shows on the board at once, without its rows being written or read, and the store
is read only when the feed starts (and when a call ends that it never saw start)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage_support import migrated_store

from router.config.console_settings import ConsoleSettings
from router.console.app import live_feed
from router.engine.board import OperatorBoard
from router.engine.recorder import Recorder
from router.engine.waiting_room import WaitingRoom
from router.storage import CallRow
from router.storage.journal import CallEvent, CallUpdate, JournalOp, NewCall


async def _never_written(_ops: Sequence[JournalOp]) -> None:
    raise AssertionError("the recorder's writer is not running in this test")


async def test_a_call_counts_on_the_board_as_its_outcome_is_journaled(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    async with migrated_store("sqlite", tmp_path) as store:
        stored = CallRow(
            "c-0",
            "clinic-router",
            "+79161234567",
            "74952232222",
            now,
            line="moscow",
            outcome="abandoned",
        )
        await store.calls.create(stored)
        await store.calls.append_event("c-0", "waiting", {"for": "queue paid"}, now)
        board = OperatorBoard(time.time)
        room = WaitingRoom(board, time.monotonic)
        recorder = Recorder(_never_written)
        feed = live_feed(ConsoleSettings(), board, room, dict().values, store.db, None, recorder)
        first = (await feed.current(False)).board
        assert [(q.name, q.abandoned, q.answered) for q in first.queues] == [("paid", 1, 0)]
        # c-1 below is never written (the writer is not running): only the journal tells it

        async with feed.watch(False) as frames:
            await frames.get()
            runner = asyncio.create_task(feed.run())
            try:
                row = CallRow("c-1", "clinic-router", "+79161234567", "74952232222", now)
                recorder.record(NewCall(row))
                recorder.record(CallUpdate("c-1", {"line": "moscow"}))
                at = now + timedelta(seconds=2)
                recorder.record(CallEvent("c-1", "waiting", {"for": "queue paid"}, at))
                answered = {"answered_at": now + timedelta(seconds=12)}
                recorder.record(CallUpdate("c-1", answered))
                recorder.record(CallUpdate("c-1", {"outcome": "answered"}))
                async with asyncio.timeout(1.0):
                    frame = await frames.get()
            finally:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
    assert frame is not None
    (paid,) = frame.board.queues
    assert (paid.answered, paid.abandoned, paid.service_level) == (1, 1, 0.5)
    assert [(line.name, line.answered) for line in frame.board.lines] == [("moscow", 1)]
