"""Shared by the HTTP component tests: the API on a real server at 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

from aiohttp import web

from router.config.live_rules import LiveRules
from router.engine.board import OperatorBoard
from router.http.api import ApiDeps, build_app
from router.storage import Store

TOKEN = "t" * 24


def bare_deps(store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ApiDeps:
    """API dependencies with no rules, an empty board and ARI connected."""
    return ApiDeps(
        rules=None,
        store=store,
        board=OperatorBoard(lambda: 1000.0),
        ari_connected=lambda: True,
        rules_version=lambda: None,
        recorder_backlog=lambda: 0,
        db_ping=store.ping,
        clock=clock,
    )


@asynccontextmanager
async def serving(
    store: Store,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    rules: LiveRules | None = None,
) -> AsyncIterator[str]:
    """The API's base URL over `store`, for routes that need no board or ARI (`rules`: the
    rules in force, for the routes that read them)."""
    deps = replace(bare_deps(store, clock), rules=rules)
    runner = web.AppRunner(build_app(deps, TOKEN))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
