"""The console's aiohttp application, mounted at `/console` by the composition root."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_session import session_middleware

from router.config.console_settings import ConsoleSettings
from router.config.live_rules import LiveRules
from router.config.settings import RoutingSettings
from router.console.audit_page import audit_page
from router.console.deps import CONSOLE, ConsoleDeps
from router.console.feed import WallboardFeed, today_figures
from router.console.guard import error_pages, viewer_and_csrf
from router.console.ledger import (
    call_back_now,
    callbacks_page,
    calls_page,
    close_task,
    supervise_call,
    supervise_state,
)
from router.console.live import LiveCall, LiveSource
from router.console.moves import move_caller
from router.console.operator_page import add_note, operator_events, operator_page, set_state
from router.console.passwords import PasswordChecker
from router.console.render import setup_templates
from router.console.reports_page import CSV_SECTIONS, reports_csv, reports_page
from router.console.rules_page import reload_rules, rules_page
from router.console.screen_pop import ScreenPop
from router.console.session import cookie_key, cookie_storage
from router.console.signin import account, home, signin, signin_form, signout
from router.console.supervision import Supervision
from router.console.wallboard import keepalive, wallboard_events, wallboard_page
from router.domain.signin_throttle import SigninThrottle, ThrottleLimits
from router.engine.board import OperatorBoard
from router.engine.moves import Mover
from router.engine.recorder import Recorder
from router.engine.waiting_room import WaitingRoom
from router.storage.console_figures import ConsoleFigures
from router.storage.db import Database
from router.storage.store import Store

PREFIX = "/console"
log = logging.getLogger(__name__)


def build_console(deps: ConsoleDeps) -> web.Application:
    """The console sub-application; mount it with `app.add_subapp(PREFIX, console)`."""
    app = web.Application(
        middlewares=[
            error_pages,
            session_middleware(cookie_storage(deps.cookie_key, deps.settings)),
            viewer_and_csrf,
        ]
    )
    app[CONSOLE] = deps
    setup_templates(app)
    app.router.add_get("/", home)
    app.router.add_get("/signin", signin_form)
    app.router.add_post("/signin", signin)
    app.router.add_post("/signout", signout)
    app.router.add_get("/account", account)
    app.router.add_get("/audit", audit_page)
    app.router.add_post("/audit", audit_page)
    app.router.add_get("/keepalive", keepalive)
    app.router.add_get("/wallboard", wallboard_page)
    app.router.add_get("/wallboard/events", wallboard_events)
    app.router.add_get("/operator/{operator_id}", operator_page)
    app.router.add_get("/operator/{operator_id}/events", operator_events)
    app.router.add_post("/operator/{operator_id}/state", set_state)
    app.router.add_post("/operator/{operator_id}/note", add_note)
    app.router.add_post("/supervise/operator/{operator_id}/state", supervise_state)
    app.router.add_post("/supervise/operator/{operator_id}/listen", supervise_call)
    app.router.add_post("/supervise/waiting/{call_id}/move", move_caller)
    app.router.add_get("/calls", calls_page)
    app.router.add_post("/calls", calls_page)
    app.router.add_get("/callbacks", callbacks_page)
    app.router.add_post(r"/callbacks/{task_id:\d{1,18}}/now", call_back_now)
    app.router.add_post(r"/callbacks/{task_id:\d{1,18}}/close", close_task)
    app.router.add_get("/rules", rules_page)
    app.router.add_get("/reports", reports_page)
    app.router.add_get("/reports/{section:" + "|".join(CSV_SECTIONS) + "}.csv", reports_csv)
    app.router.add_post("/rules", rules_page)
    app.router.add_post("/rules/reload", reload_rules)
    app.router.add_static("/static", Path(str(files("router.console") / "static")))
    app.on_cleanup.append(_pool_closer(deps.passwords))
    if deps.feed is not None:
        app.cleanup_ctx.append(_background("wallboard feed", deps.feed.run))
        app.on_shutdown.append(_closer(deps.feed))
    if deps.supervision is not None:
        app.on_shutdown.append(_ender(deps.supervision))
    if deps.screen_pop is not None:
        app.cleanup_ctx.append(_background("screen pop", deps.screen_pop.run))
    return app


def _closer(feed: WallboardFeed) -> Callable[[web.Application], Awaitable[None]]:
    async def close(_app: web.Application) -> None:
        feed.close()

    return close


def _pool_closer(passwords: PasswordChecker) -> Callable[[web.Application], Awaitable[None]]:
    async def close(_app: web.Application) -> None:
        passwords.close()

    return close


def _ender(supervision: Supervision) -> Callable[[web.Application], Awaitable[None]]:
    async def end(_app: web.Application) -> None:
        await supervision.close()

    return end


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the console's %s stopped", task.get_name(), exc_info=task.exception())


def _background(
    name: str, run: Callable[[], Coroutine[Any, Any, None]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """`run` as long as the HTTP server runs (owned by the app, awaited on exit)."""

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run(), name=name)
        task.add_done_callback(_log_failure)  # a crash is told at once, not at shutdown
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return ctx


def console_deps(
    settings: ConsoleSettings,
    api_token: str,
    store: Store,
    feed: WallboardFeed | None = None,
    rules: LiveRules | None = None,
    screen_pop: ScreenPop | None = None,
    supervision: Supervision | None = None,
    move: Mover | None = None,
    routing: RoutingSettings | None = None,
    database_url: str | None = None,
) -> ConsoleDeps:
    """The console's dependencies from its settings (the cookie key from the console
    secret, or from the API token when no secret is set). `routing` and `database_url`
    (without its password) are the router's: the rules page simulates as the CLI does."""
    secret = settings.secret.get_secret_value() or api_token
    limits = ThrottleLimits(
        per_user=settings.signin_failures_per_user,
        per_address=settings.signin_failures_per_address,
    )
    return ConsoleDeps(
        store=store,
        settings=settings,
        cookie_key=cookie_key(secret),
        throttle=SigninThrottle(time.monotonic, limits),
        passwords=PasswordChecker(),
        feed=feed,
        rules=rules,
        screen_pop=screen_pop,
        supervision=supervision,
        move=move,
        routing=routing or RoutingSettings(),
        database_url=database_url or "(the router's database)",
    )


def live_feed(
    settings: ConsoleSettings,
    board: OperatorBoard,
    room: WaitingRoom,
    live_calls: Callable[[], Iterable[LiveCall]],
    db: Database,
    rules: LiveRules | None = None,
    journal: Recorder | None = None,
) -> WallboardFeed:
    """The wallboard's feed over the running engine and the store; each queue's
    service-level target from the rules in force (`service_level_s`); today's figures
    counted from the `journal` as it is written (without it, read every few seconds)."""
    source = LiveSource(board, room, live_calls, time.time, room.clock)
    figures = today_figures(
        ConsoleFigures(db), ZoneInfo(settings.timezone), settings.callback_overdue_min * 60
    )

    def targets() -> dict[str, float]:
        if rules is None:
            return {}
        queues = rules.current.queues
        return {q.id: float(q.service_level_s) for q in queues.values() if q.service_level_s}

    feed = WallboardFeed(
        source,
        figures,
        clock=time.monotonic,
        sl_target_s=settings.service_level_s,
        sl_targets=targets,
    )
    if journal is not None:
        feed.follow_journal(journal.add_listener)
    return feed


def screen_pop(settings: ConsoleSettings, feed: WallboardFeed, store: Store) -> ScreenPop | None:
    """The webhook sender when `console.webhook_url` is set."""
    if not settings.webhook_url:
        return None
    return ScreenPop(
        settings.webhook_url,
        settings.webhook_secret.get_secret_value(),
        settings.webhook_timeout_ms / 1000,
        feed.source,
        store.patients.find_by_phone,
    )
