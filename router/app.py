"""The composition root: builds every part of the running router and owns every task."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from router.agi.service import start_agi
from router.ami.callbacks import AmiDialer
from router.ami.connection import AmiConnection
from router.ari.client import AriClient
from router.ari.stream import ApplicationReplacedError, AriEventStream
from router.config.live_rules import LiveRules
from router.config.rules import Rules, load_rules
from router.config.settings import Settings
from router.console.app import PREFIX, build_console, console_deps, live_feed, screen_pop
from router.console.supervision import Supervision
from router.crm.client import CrmClient, CrmConfig
from router.doctor.startup import log_pbx_problems
from router.domain.operators import OperatorStatus, Presence
from router.engine.board import OperatorBoard
from router.engine.callbacks.dispatch import CallbackDispatcher
from router.engine.context import CallContext, EngineSettings
from router.engine.endpoint_states import EndpointStates
from router.engine.engine import Engine
from router.engine.recorder import Recorder
from router.engine.retention import prune_every
from router.engine.rollups import rollup_every
from router.engine.waiting_room import WaitingRoom
from router.http.api import ApiDeps, build_app
from router.http.metrics import EngineFigures, RouterMetrics, StorageFigures
from router.http.reports import ReportDefaults
from router.http.wallboard import add_wallboard_route
from router.observability import logs
from router.storage.journal import Journal, OperatorState
from router.storage.report_rollup_sql import Rollups
from router.storage.retention import Pruner
from router.storage.store import Store, is_transient_error

log = logging.getLogger(__name__)


async def run_router(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT. Returns the process exit code."""
    logs.configure(settings.logging.level, settings.logging.format)
    rules = LiveRules(settings.routing.rules, load_rules(settings.routing.rules))
    store = await Store.open(settings.database.url.get_secret_value(), migrate=True)
    try:
        return await _run_with_store(settings, rules, store)
    finally:
        await store.close()


async def _load_board(store: Store, rules: Rules, recorder: Recorder) -> OperatorBoard:
    synced = await store.operators.sync(rules.operators)
    rows = {row.id: row for row in await store.operators.list()}

    def persist(status: OperatorStatus) -> None:
        recorder.record(
            OperatorState(
                status.id,
                status.presence,
                status.reason,
                _utc(status.since) or datetime.now(UTC),
                _utc(status.idle_since),
                status.calls_today,
                status.no_answers,
            )
        )

    board = OperatorBoard(clock=time.time, on_change=persist)
    statuses = []
    for op in rules.operators:
        row = rows.get(op.id)
        if row is None or row.state_changed_at is None or op.id in synced.added:
            # First sight of this operator: on duty until someone says otherwise; saved so
            # a restart does not take them for "offline".
            fresh = OperatorStatus(
                op, Presence.AVAILABLE, since=time.time(), idle_since=time.time()
            )
            persist(fresh)
            statuses.append(fresh)
        else:
            statuses.append(
                OperatorStatus(
                    op,
                    Presence(row.state),
                    row.state_reason,
                    since=row.state_changed_at.timestamp(),
                    idle_since=row.idle_since.timestamp() if row.idle_since else 0.0,
                    calls_today=row.calls_today,
                    no_answers=row.consecutive_no_answers,
                )
            )
    board.load(statuses)
    return board


def _utc(epoch: float) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


async def _run_with_store(settings: Settings, rules: LiveRules, store: Store) -> int:
    recorder = Recorder(
        Journal(store.db).apply,
        is_transient=is_transient_error,
        linger_s=settings.database.journal_batch_s,
        backlog_max=settings.database.backlog_max,
    )
    board = await _load_board(store, rules.current, recorder)

    async def apply_rules(new: Rules) -> None:
        board.update_config(new.operators)
        recorder.submit("operator sync", lambda: store.operators.sync(new.operators))
        if agi is not None:  # app_queue follows the rules too (AGI mode)
            await agi.rules_changed(new)

    rules.on_swap = apply_rules
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ari_cfg = settings.ari
    callbacks = settings.callbacks
    password = ari_cfg.password.get_secret_value()
    # Asterisk serves at most `sessionlimit` (100 by default) HTTP sessions in all, the event
    # WebSocket and every other ARI client included; past it, it refuses. A burst of calls
    # (a mass hang-up) must queue here rather than be refused there.
    connector = aiohttp.TCPConnector(limit=ari_cfg.max_connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        ari = AriClient(
            session,
            ari_cfg.url,
            ari_cfg.username,
            password,
            ari_cfg.app,
            request_timeout=ari_cfg.request_timeout_s,
        )
        engine_settings = EngineSettings(
            app=ari_cfg.app,
            ring_timeout_s=settings.routing.ring_timeout_s,
            wrap_up_s=settings.routing.wrap_up_s,
            pause_after_no_answers=settings.routing.pause_after_no_answers,
            unrouted_max_wait_s=settings.routing.unrouted_max_wait_s,
            ageing_s=settings.routing.ageing_s,
            shared_phone_prompt=settings.routing.shared_phone_prompt,
            shared_phone_timeout_s=settings.routing.shared_phone_timeout_s,
            keep_place_key=callbacks.keep_place_key if callbacks.enabled else None,
            keep_place_prompt=callbacks.keep_place_prompt,
        )
        ctx = CallContext(
            ari=ari,
            store=store,
            board=board,
            recorder=recorder,
            settings=engine_settings,
            clock=time.monotonic,
            rules_version=lambda: rules.current.version,
            rules=lambda: rules.current,
            room=WaitingRoom(board, time.monotonic, settings.routing.ageing_s),
            crm=_crm_client(session, settings),
        )
        engine = Engine(ctx)
        dispatcher: CallbackDispatcher | None = None
        if callbacks.enabled:
            dispatcher = CallbackDispatcher(
                ctx, callbacks, ari_cfg.app, engine.spawn, lambda: engine.connected
            )
            engine.dispatcher = dispatcher
            ctx.keep_place = dispatcher.keep_place
        stream = AriEventStream(session, ari_cfg.url, ari_cfg.username, password, ari_cfg.app)
        endpoints = EndpointStates(ari)
        runner = await _start_http(settings, store, board, engine, recorder, rules, endpoints)
        agi = await start_agi(settings, ctx, password)  # `mode: agi` (docs/agi-mode.md)
        if dispatcher is not None and agi is not None and agi.dialer is not None:
            _callbacks_over_ami(dispatcher, agi.dialer, agi.ami)
        exit_code = 0
        try:
            async with asyncio.TaskGroup() as tasks:
                writer = tasks.create_task(recorder.run(), name="journal writer")
                file_watch = tasks.create_task(store.db.watch(), name="database file watch")
                events = tasks.create_task(
                    stream.run(engine.on_event, engine.on_connected, engine.on_disconnected),
                    name="ari events",
                )
                stopper = tasks.create_task(stop.wait(), name="stop signal")
                watcher = tasks.create_task(rules.watch(), name="rules watcher")
                if dispatcher is not None:
                    dispatching = tasks.create_task(dispatcher.run(), name="callbacks")
                pruning = tasks.create_task(
                    prune_every(Pruner(store.db), settings.retention, ctx.now),
                    name="retention",
                )
                rolling = tasks.create_task(
                    rollup_every(Rollups(store.db), ctx.now, settings.retention),
                    name="report rollups",
                )
                # doctor's checks, logged once as warnings; they never hold up a call
                endpoint_poll = tasks.create_task(endpoints.run(), name="endpoint states")
                pbx_checks = tasks.create_task(
                    log_pbx_problems(settings, rules.current, session), name="PBX checks"
                )

                async def reload_on_sighup() -> None:
                    await rules.reload("SIGHUP")

                loop.add_signal_handler(
                    signal.SIGHUP, lambda: engine.spawn(reload_on_sighup(), "rules reload")
                )
                done, _ = await asyncio.wait({events, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if events in done and isinstance(events.exception(), ApplicationReplacedError):
                    log.error("another router took over app %r; stopping", ari_cfg.app)
                    exit_code = 3
                log.info("stopping: live calls stay in Asterisk and are adopted on restart")
                events.cancel()
                stopper.cancel()
                watcher.cancel()
                pbx_checks.cancel()
                endpoint_poll.cancel()
                pruning.cancel()
                rolling.cancel()
                if dispatcher is not None:
                    dispatching.cancel()
                # Their transactions end (rolled back) before the journal's last flush:
                # a write cancelled mid-statement on SQLite could hold the file's lock.
                await asyncio.wait({pruning, rolling}, timeout=5)
                if agi is not None:  # a call being decided goes on in the dialplan
                    await agi.close()
                await engine.stop()
                if not await recorder.flush(5.0):
                    log.error("%d journal writes could not be saved before exit", recorder.backlog)
                writer.cancel()
                file_watch.cancel()
        except* ApplicationReplacedError:
            exit_code = 3
        finally:
            await runner.cleanup()
    return exit_code


def _callbacks_over_ami(
    dispatcher: CallbackDispatcher, dialer: AmiDialer, ami: AmiConnection | None
) -> None:
    """AGI-mode lines' tasks dialled over AMI, resumed after each AMI login (after AGI
    mode's own resync). Set before the first login: nothing has awaited since the AMI
    task was created."""
    dispatcher.use_ami(dialer)
    if ami is None:
        return
    login = ami.on_connected

    async def on_login() -> None:
        if login is not None:
            await login()
        await dispatcher.resume_ami()

    ami.on_connected = on_login


def _crm_client(session: aiohttp.ClientSession, settings: Settings) -> CrmClient | None:
    cfg = settings.crm
    if cfg is None:
        return None
    return CrmClient(
        session,
        CrmConfig(
            url=cfg.url,
            phone_format=cfg.phone_format,
            auth=cfg.auth,
            header_name=cfg.header_name,
            username=cfg.username,
            secret=cfg.secret.get_secret_value() or None,
            timeout_ms=cfg.timeout_ms,
            cache_found_s=cfg.cache_found_s,
            cache_not_found_s=cfg.cache_not_found_s,
            breaker_failures=cfg.breaker_failures,
            breaker_open_s=cfg.breaker_open_s,
            list_path=cfg.list_path,
            fields=dict(cfg.fields),
        ),
    )


async def _start_http(
    settings: Settings,
    store: Store,
    board: OperatorBoard,
    engine: Engine,
    recorder: Recorder,
    rules: LiveRules,
    endpoints: EndpointStates | None = None,
) -> web.AppRunner:
    deps = ApiDeps(
        rules=rules,
        store=store,
        board=board,
        ari_connected=lambda: engine.connected,
        rules_version=lambda: rules.current.version,
        recorder_backlog=lambda: recorder.backlog,
        db_ping=store.ping,
        writes=recorder.health,
        db_file_problem=lambda: store.db.file_problem,
        endpoint_state=endpoints.state if endpoints is not None else lambda _e: None,
        reports=ReportDefaults(
            settings.console.timezone,
            settings.console.service_level_s,
            settings.console.callback_overdue_min * 60,
            settings.console.report_max_days,
        ),
    )
    metrics = RouterMetrics(
        EngineFigures(
            waiting=lambda: len(engine.ctx.room),
            live_calls=lambda: len(engine.live_calls()),
            calls_started=lambda: engine.calls_started,
            events_dropped=lambda: engine.events_dropped,
        ),
        storage=StorageFigures(recorder.health, lambda: store.db.file_problem),
    )
    # The app's startup and cleanup also start and stop the event-loop lag probe.
    app = build_app(deps, settings.http.token.get_secret_value(), metrics)
    if settings.console.enabled:
        ctx = engine.ctx
        feed = live_feed(
            settings.console, board, ctx.room, engine.live_calls, store.db, rules, recorder
        )
        add_wallboard_route(app, feed.masked_board)
        token = settings.http.token.get_secret_value()
        pop = screen_pop(settings.console, feed, store)
        watch = Supervision(ctx.ari, time.monotonic)
        console = console_deps(
            settings.console, token, store, feed, rules, pop, watch, engine.move_waiting,
            routing=settings.routing, database_url=settings.database.display_url,
        )  # fmt: skip
        app.add_subapp(PREFIX, build_console(console))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port)
    await site.start()
    log.info("HTTP API on http://%s:%d", settings.http.host, settings.http.port)
    return runner
