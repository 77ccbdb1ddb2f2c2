"""The ARI event WebSocket: connect, parse, deliver, reconnect forever.

Delivery contract (what ``run`` promises its three callbacks):

* ``on_event(event)`` is called synchronously, in the order Asterisk sent the events, from
  the task running ``run``. It must not block: put the event on a queue and return. The
  stream never awaits a handler, so a slow call cannot stall the others. An exception
  from it is logged and the stream goes on.
* ``on_connected()`` is awaited after every successful handshake, before any event of that
  connection is delivered. The socket is read meanwhile (so heartbeats keep working and
  Asterisk's write buffer does not fill up); events that arrive are held and delivered, in
  order, right after ``on_connected`` returns. Hence a snapshot taken in ``on_connected``
  (``GET /channels``...) is older than every event delivered after it, and some of those
  events may already be reflected in the snapshot: apply them idempotently.
  Per connection the order is always: on_connected, events, on_disconnected. If the socket
  closes while ``on_connected`` runs, it still runs to its end (its REST calls have their
  own timeouts; it must not wait forever) and the held events are still delivered: they
  may be the StasisEnd/ChannelDestroyed of an Asterisk restart. If ``on_connected`` raises,
  the error is logged, the held events are delivered, and the connection is closed and
  reopened after a backoff. Only ``ApplicationReplaced`` and cancellation of ``run`` drop
  held events (and cancel ``on_connected``).
* ``on_disconnected()`` is called synchronously once per connection that was established,
  when it ends (closed, failed, replaced, or ``run`` cancelled).

Asterisk behaviour handled here (asterisk-behaviour §1, §3a, §4):
* It answers the handshake with 503 for about 3 s after boot; the connection is refused
  while it restarts: retry with exponential backoff and full jitter.
* It never pings the client, and a half-open TCP connection would otherwise go unnoticed:
  aiohttp's heartbeat pings every ``heartbeat`` seconds and drops the socket when no pong
  comes back.
* ``ApplicationReplaced``: another connection took the app name over. Reconnecting would
  steal it back and the two would keep replacing each other, so ``run`` raises
  ``ApplicationReplacedError`` instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable

import aiohttp

from router.ari.connection import basic_auth_header, events_url, parse_base_url, safe_url
from router.ari.events import ApplicationReplaced, Event, parse_event

logger = logging.getLogger(__name__)

OnEvent = Callable[[Event], None]
OnConnected = Callable[[], Awaitable[None]]
OnDisconnected = Callable[[], None]


class ApplicationReplacedError(Exception):
    """Another WebSocket connected with the same Stasis app name and took it over."""

    def __init__(self, app: str) -> None:
        super().__init__(f"Stasis app {app!r} was taken over by another WebSocket connection")
        self.app = app


class _ConnectFailed(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status  # HTTP status of the handshake, 0 if there was none
        self.reason = reason  # safe to log: no headers, no credentials


class AriEventStream:
    """The event WebSocket of one Stasis application."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        subscribe_all: bool = False,
        heartbeat: float = 5.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 5.0,
        connect_timeout: float = 5.0,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._session = session
        self._url = events_url(parse_base_url(base_url), app, subscribe_all=subscribe_all)
        self._headers = {"Authorization": basic_auth_header(username, password)}
        self.app = app
        self._heartbeat = heartbeat
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._jitter = jitter
        self._connected = False
        self.connects = 0  # successful handshakes so far
        self._held: list[Event] | None = None  # events held while on_connected runs
        self._last_failure: str | None = None

    def __repr__(self) -> str:
        return f"AriEventStream({safe_url(self._url)!r})"

    @property
    def connected(self) -> bool:
        """True while a WebSocket to Asterisk is open."""
        return self._connected

    async def run(
        self,
        on_event: OnEvent,
        on_connected: OnConnected,
        on_disconnected: OnDisconnected,
    ) -> None:
        """Stream events until cancelled, or until ``ApplicationReplacedError``."""
        attempt = 0
        while True:
            try:
                ws = await self._connect()
            except _ConnectFailed as failure:
                self._log_failure(failure)
                # Wrong credentials will not fix themselves quickly: retry at the slowest pace.
                delay = self._backoff_max if failure.status == 401 else self._delay(attempt)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            healthy = await self._session_lifetime(ws, on_event, on_connected, on_disconnected)
            attempt = 0 if healthy else attempt + 1
            await asyncio.sleep(self._delay(attempt))

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, min(max, initial * 2**attempt))."""
        ceiling = min(self._backoff_max, self._backoff_initial * 2 ** min(attempt, 30))
        return self._jitter(0.0, ceiling)

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await self._session.ws_connect(
                    self._url,
                    headers=self._headers,
                    protocols=("ari",),
                    heartbeat=self._heartbeat,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                )
        except aiohttp.WSServerHandshakeError as exc:
            # Only the status: the exception's repr carries the request headers.
            raise _ConnectFailed(exc.status, f"handshake answered HTTP {exc.status}") from None
        except TimeoutError:
            raise _ConnectFailed(0, f"no handshake within {self._connect_timeout:g} s") from None
        except aiohttp.ClientResponseError as exc:
            raise _ConnectFailed(exc.status, f"{type(exc).__name__} HTTP {exc.status}") from None
        except aiohttp.ClientError as exc:
            # e.g. "Cannot connect to host 127.0.0.1:8088 ssl:default [Connect call failed]"
            raise _ConnectFailed(0, f"{type(exc).__name__}: {exc}") from None

    def _log_failure(self, failure: _ConnectFailed) -> None:
        """Warn when the kind of failure changes; repeat the same one only at debug."""
        key = f"{failure.status}:{failure.reason if failure.status == 0 else ''}"
        if key == self._last_failure:
            logger.debug("ARI event stream: %s (%s), retrying", failure.reason, self._safe_url)
            return
        self._last_failure = key
        if failure.status == 401:
            logger.error(
                "ARI rejected the username/password (HTTP 401) for %s: check ari.conf and the "
                "router's ARI credentials; retrying every %g s",
                self._safe_url,
                self._backoff_max,
            )
        else:
            logger.warning("ARI event stream: %s (%s), retrying", failure.reason, self._safe_url)

    @property
    def _safe_url(self) -> str:
        return safe_url(self._url)

    async def _session_lifetime(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        on_event: OnEvent,
        on_connected: OnConnected,
        on_disconnected: OnDisconnected,
    ) -> bool:
        """Serve one connection; True if it got as far as a successful on_connected."""
        self._connected = True
        self._last_failure = None
        self.connects += 1
        logger.info("ARI event stream connected to %s (#%d)", self._safe_url, self.connects)
        try:
            return await self._serve(ws, on_event, on_connected)
        finally:
            self._connected = False
            await ws.close()
            try:
                on_disconnected()
            except Exception:
                logger.exception("on_disconnected failed")

    async def _serve(
        self, ws: aiohttp.ClientWebSocketResponse, on_event: OnEvent, on_connected: OnConnected
    ) -> bool:
        self._held = []
        reader = asyncio.create_task(self._read(ws, on_event), name="ari-events-reader")
        greeter = asyncio.create_task(self._greet(on_connected), name="ari-events-on-connected")
        try:
            await asyncio.wait((reader, greeter), return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                # ApplicationReplacedError stops everything at once. A plain close does not:
                # on_connected still finishes and the events Asterisk sent before closing
                # (e.g. the StasisEnd/ChannelDestroyed of a restart) are still delivered.
                reader.result()
                logger.warning(
                    "ARI event stream closed (code %s) during on_connected", ws.close_code
                )
            healthy = await greeter
            self._release(on_event)
            if not healthy:
                return False
            await reader  # live delivery until the socket closes
            logger.warning("ARI event stream closed (code %s), reconnecting", ws.close_code)
            return True
        finally:
            self._held = None
            for task in (reader, greeter):
                task.cancel()
            await asyncio.gather(reader, greeter, return_exceptions=True)

    @staticmethod
    async def _greet(on_connected: OnConnected) -> bool:
        try:
            await on_connected()
        except Exception:
            logger.exception("on_connected failed; the ARI connection will be reopened")
            return False
        return True

    def _release(self, on_event: OnEvent) -> None:
        held, self._held = self._held or [], None
        for event in held:
            self._deliver(event, on_event)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, on_event: OnEvent) -> None:
        try:
            async for msg in ws:  # ends on CLOSE / CLOSING / CLOSED
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._handle_text(msg.data, on_event)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    # e.g. heartbeat: no pong within heartbeat/2 -> ServerTimeoutError
                    logger.warning("ARI event stream failed: %s", type(ws.exception()).__name__)
                    return
        except aiohttp.ClientError as exc:
            logger.warning("ARI event stream failed: %s", type(exc).__name__)

    def _handle_text(self, data: str, on_event: OnEvent) -> None:
        try:
            decoded = json.loads(data)
        except ValueError:
            logger.debug("ARI sent a message that is not JSON (%d chars)", len(data))
            return
        event = parse_event(decoded)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("ARI event %s %s", event.type, event.channel_ids())
        if isinstance(event, ApplicationReplaced):
            logger.error(
                "Stasis app %r was taken over by another WebSocket (ApplicationReplaced): "
                "this connection stops and is not reopened; is another router instance "
                "running with the same app name?",
                self.app,
            )
            raise ApplicationReplacedError(self.app)
        if self._held is not None:
            self._held.append(event)
        else:
            self._deliver(event, on_event)

    @staticmethod
    def _deliver(event: Event, on_event: OnEvent) -> None:
        try:
            on_event(event)
        except Exception:
            logger.exception("on_event failed for ARI %s event", event.type)
