"""Shared by the console tests: the API with the console mounted, on a real server."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from api_support import TOKEN, bare_deps
from argon2 import PasswordHasher

from router.config.console_settings import ConsoleSettings
from router.config.live_rules import LiveRules
from router.console.app import PREFIX, build_console, console_deps, live_feed
from router.console.deps import ConsoleDeps
from router.console.feed import WallboardFeed
from router.domain.console_access import Role
from router.domain.miss_target import MissTarget
from router.domain.operators import Operator, OperatorStatus, Presence
from router.engine.board import OperatorBoard
from router.engine.moves import Mover
from router.engine.waiting_room import WaitingRoom
from router.http.api import build_app
from router.storage import Store

PASSWORD = "correct horse battery"
# The test users' hashes: argon2id at the least cost argon2 allows. The console checks a
# password at the cost its hash says (router.console.passwords), so its code is the one an
# admin's users meet; at the command's cost (argon2-cffi's defaults: 64 MiB, 3 passes, 4
# lanes) each sign-in took 0.12 s of the 2-core test machine idle, far more loaded.
# Hashing at that cost: test_users_cli.py; checking: test_console_auth.py's concurrent
# sign-ins.
_QUICK = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """Epoch seconds that a test moves forward (session ages)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Console:
    base: str
    deps: ConsoleDeps
    clock: Clock


def quick_hash(password: str) -> str:
    """An argon2id hash of `password` that costs well under a millisecond to check."""
    return _QUICK.hash(password)


async def add_users(store: Store) -> None:
    hashed = quick_hash(PASSWORD)
    await store.users.add("olga", Role.OPERATOR, "op1001", hashed)
    await store.users.add("sam", Role.SUPERVISOR, None, hashed)
    await store.users.add("ada", Role.ADMIN, None, hashed)


@asynccontextmanager
async def serving_console(
    store: Store,
    clock: Clock,
    settings: ConsoleSettings | None = None,
    feed: WallboardFeed | None = None,
    rules: LiveRules | None = None,
    move: Mover | None = None,
    database_url: str | None = None,
) -> AsyncIterator[Console]:
    app = build_app(bare_deps(store), TOKEN)
    deps = console_deps(
        settings or ConsoleSettings(), TOKEN, store, feed, rules, move=move,
        database_url=database_url,
    )  # fmt: skip
    deps = ConsoleDeps(**{**deps.__dict__, "clock": clock})
    app.add_subapp(PREFIX, build_console(deps))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield Console(f"http://127.0.0.1:{runner.addresses[0][1]}", deps, clock)
    finally:
        await runner.cleanup()


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1 (aiohttp's jar refuses IP hosts by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def sign_in(
    client: aiohttp.ClientSession,
    base: str,
    user: str,
    password: str = PASSWORD,
    next_path: str | None = None,
) -> aiohttp.ClientResponse:
    async with client.get(f"{base}/console/signin") as form:
        token = csrf_of(await form.text())
    data = {"username": user, "password": password, "csrf_token": token}
    if next_path is not None:
        data["next"] = next_path
    async with client.post(f"{base}/console/signin", data=data, allow_redirects=False) as resp:
        await resp.read()
        return resp


@dataclass
class Caller:
    """What the console reads of a live call (the engine is not running in these tests)."""

    id: str
    caller_e164: str | None
    menu_path: list[str] = field(default_factory=list)
    operator_id: str | None = None
    tried: list[str] = field(default_factory=list)
    patient_id: str | None = None
    miss_target: MissTarget | None = None
    operator_channel: str | None = None


@dataclass
class Live:
    console: Console
    board: OperatorBoard
    room: WaitingRoom
    calls: dict[str, Caller]
    store: Store


@asynccontextmanager
async def live_console(
    store: Store, settings: ConsoleSettings | None = None, rules: LiveRules | None = None
) -> AsyncIterator[Live]:
    """The console over a real board (op1001 Olga, op1002 Ivan, paused) and waiting room."""
    settings = settings or ConsoleSettings()
    board = OperatorBoard(time.time)
    names = {"op1001": "Olga", "op1002": "Ivan"}
    ops = [Operator(op_id, name, f"PJSIP/{op_id}") for op_id, name in names.items()]
    board.load(OperatorStatus(op, Presence.PAUSED, "training", time.time()) for op in ops)
    room = WaitingRoom(board, time.monotonic)
    calls: dict[str, Caller] = {}
    feed = live_feed(settings, board, room, calls.values, store.db)
    async with serving_console(store, Clock(time.time()), settings, feed, rules) as console:
        yield Live(console, board, room, calls, store)


async def next_board(stream: aiohttp.ClientResponse, timeout: float) -> str:
    """The data of the next `board` event of a Server-Sent Events stream."""
    event, data = None, []
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.content.readline()).decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and event == "board":
                return "\n".join(data)
            elif not line:
                event, data = None, []
