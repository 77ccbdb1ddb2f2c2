"""What the console's handlers are given by the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from router.config.console_settings import ConsoleSettings
from router.domain.signin_throttle import SigninThrottle
from router.storage.audit import AuditRepository
from router.storage.users import UserRepository


@dataclass(frozen=True)
class ConsoleDeps:
    users: UserRepository
    audit: AuditRepository
    settings: ConsoleSettings
    cookie_key: bytes  # 32 bytes, see router.console.session.cookie_key
    throttle: SigninThrottle
    clock: Callable[[], float] = time.time  # epoch seconds: session ages


CONSOLE = web.AppKey("console", ConsoleDeps)
