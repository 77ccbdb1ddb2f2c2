"""A fake Asterisk on 127.0.0.1:0 for the engine tier: ARI REST + the event WebSocket.

    async with FakeAsterisk() as ast:
        ast.phone("PJSIP/op1001", "answer")
        caller = ast.caller_arrives("74952232222", "79990001122")
        await ast.until(lambda: ast.bridged(caller))
        ast.caller_hangs_up(caller)

It speaks Asterisk's recorded JSON (``tests/data/ari``, see ``recorded.py``) and injects
on demand what a real Asterisk rarely does: a dropped socket, REST errors and slow
replies, duplicated events. It never replaces the real-Asterisk tier.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType

from aiohttp import WSMsgType, web

from sip_test_harness.probe import AriAccess
from tests.fakeari.asterisk import Connection, FakeWorld
from tests.fakeari.faults import RestFault
from tests.fakeari.model import FakeChannel, PhoneBehaviour
from tests.fakeari.rest import WORLD, routes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ACCESS = AriAccess()  # the sandbox's user and password: the router logs in the same way


class FakeAsterisk:
    def __init__(self, *, time_scale: float = 0.01) -> None:
        self.world = FakeWorld(time_scale=time_scale)
        self.refuse_sockets = False  # answer the WebSocket handshake with 503 (booting)
        self._sockets: dict[web.WebSocketResponse, web.Request] = {}
        self._runner: web.AppRunner | None = None
        self._in_flight = 0
        self._last_reply = 0.0
        self.port = 0

    # -- life cycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeAsterisk:
        app = web.Application(middlewares=[self._auth, self._faults])
        app[WORLD] = self.world
        app.add_routes([web.get("/ari/events", self._events), *routes()])
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = int(server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.world.close()
        for fault in self.world.faults.rest:
            if fault.gate is not None:
                fault.gate.set()
        for conn in self.world.connections.values():
            conn.outbox.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ari"

    # -- the wire --------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.world.log.append((request.method, request.path_qs.removeprefix("/ari")))
        if request.headers.get("Authorization") != ACCESS.authorization():
            return web.json_response({"message": "Authentication required"}, status=401)
        if request.path == "/ari/events":  # the socket lives on: not a request under way
            return await handler(request)
        self._in_flight += 1
        try:
            return await handler(request)
        finally:
            self._in_flight -= 1
            self._last_reply = time.monotonic()
            self.world.changed()

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path_qs.removeprefix("/ari")
        body = (await request.text()) if request.body_exists else ""
        fault = self.world.faults.take(request.method, path, body)
        if fault is not None:
            if fault.gate is not None:
                await fault.gate.wait()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                return web.json_response({"message": fault.message}, status=fault.status)
        return await handler(request)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_sockets:
            return web.json_response({"message": "Service Unavailable"}, status=503)
        app = request.query.get("app", "")
        ws = web.WebSocketResponse(protocols=("ari",))
        await ws.prepare(request)
        old = self.world.connections.get(app)
        if old is not None and not old.dropped:
            old.send({"type": "ApplicationReplaced", "application": app})
        conn = self.world.connections[app] = Connection(app)
        self._sockets[ws] = request
        reader = asyncio.create_task(_drain(ws), name="fake ari socket reader")
        try:
            while True:
                getter = asyncio.ensure_future(conn.outbox.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                event = getter.result()
                if event is None or conn.dropped:
                    break
                await ws.send_json(event)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self._sockets.pop(ws, None)
            if self.world.connections.get(app) is conn:
                del self.world.connections[app]  # the app is inactive: events are dropped
            self.world.changed()
        return ws

    # -- the test's script: callers ---------------------------------------------------------

    def caller_arrives(self, did: str, number: str) -> str:
        """A caller dials `did` from `number`; returns their channel id."""
        return self.world.offer(did, number).id

    def press(self, channel_id: str, digit: str) -> None:
        ch = self.channel(channel_id)
        self.world.channel_event("ChannelDtmfReceived", ch, digit=digit)

    def caller_hangs_up(self, channel_id: str) -> None:
        self.world.end(self.channel(channel_id), "caller")

    # -- the test's script: operators' phones -----------------------------------------------

    def phone(self, endpoint: str, behaviour: PhoneBehaviour) -> None:
        """How `endpoint` (``PJSIP/op1001``; ``*`` for any other) treats an originate."""
        self.world.phones[endpoint] = behaviour

    def answer(self, leg: str) -> None:
        self.world.answer_leg(leg)

    def ring_out(self, leg: str) -> None:
        self.world.ring_out_leg(leg)

    def busy(self, leg: str) -> None:
        self.world.busy_leg(leg)

    def legs_to(self, endpoint: str) -> list[str]:
        """Channel ids originated to `endpoint`, in order (one per ring)."""
        return [c for e, c in self.world.originated if e == endpoint]

    # -- the test's script: faults ----------------------------------------------------------

    def fail(self, method: str, path: str, status: int = 500, **kw: object) -> RestFault:
        return self.world.faults.add(RestFault(method, path, status, **kw))  # type: ignore[arg-type]

    def slow(self, method: str, path: str, delay: float, **kw: object) -> RestFault:
        return self.world.faults.add(RestFault(method, path, None, delay=delay, **kw))  # type: ignore[arg-type]

    def hold(self, method: str, path: str, **kw: object) -> RestFault:
        """The next such request waits until the test sets ``fault.gate``."""
        return self.world.faults.add(RestFault(method, path, None, gate=asyncio.Event(), **kw))  # type: ignore[arg-type]

    def duplicate_next(self, event_type: str, times: int = 1) -> None:
        self.world.faults.duplicate[event_type] = times

    def send_after(self, event_type: str, later_type: str) -> None:
        """The next `event_type` event reaches the router after the next `later_type`."""
        self.world.faults.hold_back[event_type] = later_type

    async def drop_socket(self) -> None:
        """The TCP connection under the event WebSocket dies (no close frame)."""
        for conn in self.world.connections.values():
            conn.dropped = True
        for request in list(self._sockets.values()):
            if request.transport is not None:
                request.transport.abort()
        await self.until(lambda: not self._sockets)

    async def restart_asterisk(self) -> None:
        """`core restart now` (asterisk-behaviour §4): every channel gets a soft hang-up
        request with cause 4, then StasisEnd, ChannelLeftBridge and ChannelDestroyed; the
        socket dies without a close frame; bridges are gone; a reconnect finds an empty
        Asterisk."""
        for ch in [c for c in self.world.channels.values() if c.alive]:
            self.world.channel_event("ChannelHangupRequest:caller", ch, cause=4, soft=True)
            self.world.shutdown(ch)
        await self.until(lambda: all(c.outbox.empty() for c in self.world.connections.values()))
        self.world.bridges.clear()
        await self.drop_socket()

    async def crash_asterisk(self) -> None:
        """`kill -9` of Asterisk, then a start (asterisk-behaviour §4): no event, no BYE;
        the socket dies; a reconnect finds an empty Asterisk with a new start time."""
        for ch in [c for c in self.world.channels.values() if c.alive]:
            ch.location, ch.state, ch.hung_up_by = "gone", "Down", "asterisk"
        self.world.bridges.clear()
        self.world.startup_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        await self.drop_socket()

    # -- looking -----------------------------------------------------------------------------

    def channel(self, channel_id: str) -> FakeChannel:
        return self.world.channels[channel_id]

    def connected(self, app: str = "clinic-router") -> bool:
        conn = self.world.connections.get(app)
        return conn is not None and not conn.dropped

    def bridged(self, channel_id: str) -> str | None:
        """The other channel in the caller's bridge, if any (a conversation)."""
        ch = self.world.channels[channel_id]
        bridge = self.world.bridges.get(ch.bridge or "")
        others = [c for c in (bridge.channels if bridge else []) if c != channel_id]
        return others[0] if others else None

    def in_fallback(self, channel_id: str) -> bool:
        ch = self.world.channels[channel_id]
        return ch.location == "dialplan" and ch.context == "clinic-router-fallback"

    def leftovers(self) -> list[str]:
        """Bridges, and live channels in Stasis, that nobody is talking in any more."""
        left = [f"bridge {b.id}" for b in self.world.bridges.values()]
        left += [
            f"channel {c.id}"
            for c in self.world.channels.values()
            if c.alive and c.location in ("stasis", "ringing") and c.app
        ]
        return left

    def quiet(self, for_s: float = 0.1) -> bool:
        """No request under way, and none answered for `for_s`: the router is waiting for
        events (e.g. done adopting what it found)."""
        return self._in_flight == 0 and time.monotonic() - self._last_reply >= for_s

    def requests(self, method: str, path_part: str) -> list[str]:
        return [p for m, p in self.world.log if m == method and path_part in p]

    async def until(self, check: Callable[[], object], timeout: float = 5.0) -> None:
        await self.world.until(lambda: bool(check()), timeout)


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends until it closes; pings are answered by aiohttp."""
    async for msg in ws:
        if msg.type is WSMsgType.ERROR:
            return
