"""What the console's handlers are given by the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from router.config.console_settings import ConsoleSettings
from router.config.live_rules import LiveRules
from router.config.settings import RoutingSettings
from router.console.feed import WallboardFeed
from router.console.passwords import PasswordChecker
from router.console.screen_pop import ScreenPop
from router.console.supervision import Supervision
from router.domain.signin_throttle import SigninThrottle
from router.engine.moves import Mover
from router.storage.audit import AuditRepository
from router.storage.console_figures import ConsoleFigures
from router.storage.console_sessions import SessionRepository
from router.storage.store import Store
from router.storage.users import UserRepository


@dataclass(frozen=True)
class ConsoleDeps:
    store: Store
    settings: ConsoleSettings
    cookie_key: bytes  # 32 bytes, see router.console.session.cookie_key
    throttle: SigninThrottle
    passwords: PasswordChecker  # argon2 on a small pool of its own
    clock: Callable[[], float] = time.time  # epoch seconds: session ages
    feed: WallboardFeed | None = None  # None: no live engine (the live pages answer 503)
    rules: LiveRules | None = None  # None: the rules page answers 503
    screen_pop: ScreenPop | None = None  # console.webhook_url set
    supervision: Supervision | None = None  # listen/whisper/barge (needs ARI)
    move: Mover | None = None  # moves a waiting caller (needs the live engine)
    routing: RoutingSettings = field(default_factory=RoutingSettings)  # for simulate
    database_url: str = "(the router's database)"  # as simulate names it, no password

    @property
    def users(self) -> UserRepository:
        return self.store.users

    @property
    def sessions(self) -> SessionRepository:
        return self.store.sessions

    @property
    def audit(self) -> AuditRepository:
        return self.store.audit

    @property
    def reads(self) -> ConsoleFigures:
        return ConsoleFigures(self.store.db)

    def require_feed(self) -> WallboardFeed:
        if self.feed is None:
            raise web.HTTPServiceUnavailable(text="The live view is not running.")
        return self.feed


CONSOLE = web.AppKey("console", ConsoleDeps)
