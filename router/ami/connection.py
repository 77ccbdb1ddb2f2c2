"""One AMI connection: log in, ask only for the events we use, read them, reconnect.

Why not panoramisk's Manager: its reconnect is a `call_later` that outlives `close()`
(a stopped router logs in again), its connect and event callbacks run as tasks nobody
owns, and an action's reply future may never resolve (QueueAdd). Here one task owns the
socket: it reconnects with backoff until cancelled, and each action waits for its reply
under a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping

from router.ami.protocol import Message, action_bytes, parse_message

log = logging.getLogger(__name__)

EventSink = Callable[[Message], None]
# The events AGI mode reads (a whitelist filter: Asterisk sends nothing else).
EVENTS = (
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentCalled",
    "AgentRingNoAnswer",
    "AgentConnect",
    "AgentComplete",
    "QueueMemberPause",  # presence (router/ami/presence.py)
    "DialBegin",
    "DialEnd",
    "Hangup",
    "OriginateResponse",
)
MAX_MESSAGE_BYTES = 65_536


class AmiError(Exception):
    """An action failed or got no reply."""


class AmiConnection:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: EventSink,
        *,
        on_connected: Callable[[], Awaitable[None]] | None = None,
        action_timeout_s: float = 5.0,
        backoff_max_s: float = 10.0,
    ) -> None:
        self._host, self._port = host, port
        self._username, self._secret = username, secret
        self.on_event = on_event
        self.on_connected = on_connected  # awaited after each login (a reload, a resync)
        self._timeout = action_timeout_s
        self._backoff_max = backoff_max_s
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._lists: dict[str, tuple[list[Message], str, asyncio.Future[list[Message]]]] = {}
        self._ids = itertools.count(1)
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Stay connected until cancelled."""
        delay = 0.5
        while True:
            try:
                await self._session()
                delay = 0.5
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                AmiError,
            ) as exc:
                log.warning("AMI connection to %s:%d lost: %s", self._host, self._port, exc)
            finally:
                self._drop()
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self._backoff_max)

    async def action(self, name: str, fields: Mapping[str, str] | None = None) -> Message:
        """Send an action and wait for its `Response` (AmiError: Error, or no reply)."""
        if self._writer is None:
            raise AmiError("AMI not connected")
        fields = dict(fields or {})
        action_id = fields.pop("ActionID", None) or f"cr-{next(self._ids)}"
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = reply
        try:
            self._writer.write(action_bytes(name, action_id, fields))
            async with asyncio.timeout(self._timeout):
                await self._writer.drain()
                message = await reply
        except TimeoutError as exc:
            raise AmiError(f"{name}: no reply in {self._timeout} s") from exc
        finally:
            self._pending.pop(action_id, None)
        if message.get("Response") == "Error":
            raise AmiError(f"{name}: {message.get('Message', 'error')}")
        return message

    async def action_list(
        self, name: str, complete: str, fields: Mapping[str, str] | None = None
    ) -> list[Message]:
        """An action answered by a list of events (CoreShowChannels): the events up to
        `complete`, which Asterisk sends to this session whatever its event filters."""
        action_id = f"cr-{next(self._ids)}"
        done: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        self._lists[action_id] = ([], complete, done)
        try:
            await self.action(name, {**(fields or {}), "ActionID": action_id})
            async with asyncio.timeout(self._timeout):
                return await done
        except TimeoutError as exc:
            raise AmiError(f"{name}: the list did not complete in {self._timeout} s") from exc
        finally:
            self._lists.pop(action_id, None)

    async def channels(self) -> list[Message]:
        """Asterisk's channels now (CoreShowChannels): after a login, for a late session's
        call, for a callback attempt."""
        return await self.action_list("CoreShowChannels", "CoreShowChannelsComplete")

    async def _session(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self._host, self._port, limit=MAX_MESSAGE_BYTES), self._timeout
        )
        self._writer = writer
        greeting = await asyncio.wait_for(reader.readline(), self._timeout)
        if not greeting.startswith(b"Asterisk Call Manager"):
            raise AmiError("not an AMI server")
        reading = asyncio.create_task(self._read(reader))
        try:
            # The secret goes on the wire only; never into a log line or an error.
            await self.action("Login", {"Username": self._username, "Secret": self._secret})
            for event in EVENTS:
                await self.action("Filter", {"Operation": "Add", "Filter": f"Event: {event}"})
            # how Queue() ended (JOINEMPTY leaves no queue event at all)
            await self.action("Filter", {"Operation": "Add", "Filter": "Variable: QUEUESTATUS"})
            self.connected.set()
            log.info("AMI connected to %s:%d", self._host, self._port)
            if self.on_connected is not None:
                await self.on_connected()
            await reading
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            raw = await reader.readuntil(b"\r\n\r\n")
            message = parse_message(raw)
            action_id = message.get("ActionID")
            if "Response" in message and action_id in self._pending:
                future = self._pending[action_id]
                if not future.done():
                    future.set_result(message)
            elif action_id in self._lists:
                items, complete, done = self._lists[action_id]
                if message.get("Event") == complete:
                    if not done.done():
                        done.set_result(items)
                elif "Event" in message:
                    items.append(message)
            elif "Event" in message:
                try:
                    self.on_event(message)
                except Exception:  # one bad event must not cost the connection
                    log.exception("AMI event %s could not be handled", message.get("Event"))

    def _drop(self) -> None:
        self.connected.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(AmiError("AMI connection lost"))
        self._pending.clear()
        for _, _, done in self._lists.values():
            if not done.done():
                done.set_exception(AmiError("AMI connection lost"))
        if self._writer is not None:
            self._writer.close()
            self._writer = None
