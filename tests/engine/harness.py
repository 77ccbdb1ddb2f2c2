"""The real engine, built the way ``router/app.py`` builds it, against the fake Asterisk.

Only the wire is fake: the ARI client, the event stream, the engine, the waiting room,
the board, the journal writer and a real SQLite database in the test's folder are the
product's own. Reconnects are shortened to tens of milliseconds so that a scenario runs in
milliseconds; the request timeout stays long enough (2 s) for a loaded CI machine, and a
scenario about lost replies shortens it (`request_timeout=`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp

from router.app import _load_board
from router.ari.client import AriClient
from router.ari.stream import AriEventStream
from router.config.callback_settings import CallbackSettings
from router.config.live_rules import LiveRules
from router.config.rules import load_rules
from router.engine.callbacks.dispatch import CallbackDispatcher
from router.engine.context import CallContext, EngineSettings
from router.engine.engine import Engine
from router.engine.recorder import Recorder
from router.engine.waiting_room import WaitingRoom
from router.storage.journal import Journal
from router.storage.store import Store, is_transient_error
from tests.asterisk.rulesfile import write_rules
from tests.fakeari import FakeAsterisk
from tests.fakeari.server import ACCESS

APP = "clinic-router"
DID = "74952232222"


class RouterUnderTest:
    """One router process, in this event loop. `start` twice on one folder = a restart."""

    def __init__(
        self,
        fake: FakeAsterisk,
        folder: Path,
        *,
        operators: tuple[str, ...] = ("op1001", "op1002"),
        ring_timeout_s: int = 15,
        unrouted_max_wait_s: int = 600,
        callbacks: CallbackSettings | None = None,
        busy_timeout_ms: int = 5_000,
        request_timeout: float = 2.0,
        linger_s: float = 0.01,
    ) -> None:
        self.fake = fake
        self.folder = folder
        self.db_path = folder / "router.db"
        self.rules_path = folder / "rules.yaml"
        if not self.rules_path.exists():
            write_rules(folder, list(operators))
        self.ring_timeout_s = ring_timeout_s
        self.unrouted_max_wait_s = unrouted_max_wait_s
        self.callbacks = callbacks
        self.busy_timeout_ms = busy_timeout_ms
        self.request_timeout = request_timeout
        self.linger_s = linger_s  # the journal's batch window (production: 0.25 s)
        self.engine: Engine | None = None
        self.store: Store | None = None
        self.dispatcher: CallbackDispatcher | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._recorder: Recorder | None = None

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db_path}"

    async def start(self) -> Engine:
        rules = LiveRules(self.rules_path, load_rules(self.rules_path))
        store = self.store = await Store.open(
            self.url, migrate=True, busy_timeout_ms=self.busy_timeout_ms
        )
        recorder = self._recorder = Recorder(
            Journal(store.db).apply, is_transient=is_transient_error, linger_s=self.linger_s
        )
        board = await _load_board(store, rules.current, recorder)
        session = self._session = aiohttp.ClientSession()
        ari = AriClient(
            session,
            self.fake.url,
            ACCESS.user,
            ACCESS.password,
            APP,
            request_timeout=self.request_timeout,
        )
        ctx = CallContext(
            ari=ari,
            store=store,
            board=board,
            recorder=recorder,
            settings=EngineSettings(
                app=APP,
                ring_timeout_s=self.ring_timeout_s,
                unrouted_max_wait_s=self.unrouted_max_wait_s,
                keep_place_key=None,
            ),
            clock=time.monotonic,
            rules_version=lambda: rules.current.version,
            rules=lambda: rules.current,
            room=WaitingRoom(board, time.monotonic, 60.0),
        )
        engine = self.engine = Engine(ctx)
        stream = AriEventStream(
            session,
            self.fake.url,
            ACCESS.user,
            ACCESS.password,
            APP,
            heartbeat=5.0,
            backoff_initial=0.01,
            backoff_max=0.05,
            connect_timeout=2.0,
        )
        self._tasks = [
            asyncio.create_task(recorder.run(), name="journal writer"),
            asyncio.create_task(
                stream.run(engine.on_event, engine.on_connected, engine.on_disconnected),
                name="ari events",
            ),
        ]
        if self.callbacks is not None:
            self.dispatcher = CallbackDispatcher(
                ctx, self.callbacks, APP, engine.spawn, lambda: engine.connected
            )
            engine.dispatcher = self.dispatcher
            self._tasks.append(asyncio.create_task(self.dispatcher.run(), name="callbacks"))
        await self.fake.until(lambda: engine.reconciler.runs > 0)
        return engine

    async def stop(self) -> None:
        """What app.py does on SIGTERM: stop the stream and the calls, flush the journal."""
        if self.engine is None:
            return
        writer, events, *others = self._tasks
        for task in (events, *others):
            task.cancel()
        await asyncio.gather(events, *others, return_exceptions=True)
        await self.engine.stop()
        assert self._recorder is not None
        await self._recorder.flush(5.0)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await self._close()

    async def kill(self) -> None:
        """What a `kill -9` leaves: nothing more is written (the journal's records still
        held in memory are lost), nothing more is asked of Asterisk."""
        if self.engine is None:
            return
        for task in self._tasks:  # the journal writer first: not one more write
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.engine.stop()
        await self._close()

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self.store is not None:
            await self.store.close()
        self.engine = self.store = self._session = None

    @property
    def write_failures(self) -> int:
        """Journal batches that failed and were retried."""
        assert self._recorder is not None
        return self._recorder.failures

    async def flushed(self) -> None:
        assert self._recorder is not None
        assert await self._recorder.flush(5.0), "the journal could not be written"

    # -- what the database says (read from the file, as an admin would) ------------------

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as db:
            return list(db.execute(sql, args))

    def call(self, call_id: str) -> dict[str, Any]:
        with sqlite3.connect(self.db_path) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("select * from calls where id = ?", (call_id,)).fetchone()
        assert row is not None, f"no call {call_id} in the database"
        return dict(row)

    def misses(self, call_id: str) -> list[str]:
        return [r[0] for r in self.rows("select reason from misses where call_id = ?", call_id)]

    def journey(self, call_id: str) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                "select kind from call_events where call_id = ? order by id", call_id
            )
        ]

    def rings(self, call_id: str) -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self.rows(
                "select operator_id, result from ring_attempts where call_id = ? order by id",
                call_id,
            )
        ]
