"""Shared by the engine's component tests: a real CallContext (SQLite ledger, journal
writer, operator board, waiting room) whose ARI client talks to a fake Asterisk app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.ari import AriClient
from router.config.rules import Rules
from router.engine.board import OperatorBoard
from router.engine.context import CallContext, EngineSettings
from router.engine.recorder import Recorder
from router.engine.waiting_room import WaitingRoom
from router.storage import Store
from router.storage.journal import Journal
from router.storage.store import is_transient_error


@asynccontextmanager
async def engine_context(
    tmp_path: Path,
    fake_asterisk: web.Application,
    rules: Rules,
    settings: EngineSettings | None = None,
) -> AsyncIterator[CallContext]:
    """The context, with `fake_asterisk` served on 127.0.0.1 as its ARI."""
    server = TestServer(fake_asterisk, host="127.0.0.1", port=0)
    await server.start_server()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'router.db'}", migrate=True)
    recorder = Recorder(
        Journal(store.db).apply, is_transient=is_transient_error, retry_initial=0.05
    )
    writer = asyncio.create_task(recorder.run())
    board = OperatorBoard(clock=time.time)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}/ari"
            yield CallContext(
                ari=AriClient(session, url, "clinic-router", "secret", "clinic-router"),
                store=store,
                board=board,
                recorder=recorder,
                settings=settings or EngineSettings(app="clinic-router"),
                clock=time.monotonic,
                rules_version=lambda: rules.version,
                rules=lambda: rules,
                room=WaitingRoom(board, time.monotonic),
            )
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()
        await server.close()
