"""A FastAGI server on asyncio streams.

Why not panoramisk's `fast_agi.Application`: its header reader spins on a connection that
closes before the blank line (a bare TCP connect, a health check, a port scan) and stalls
the whole event loop (docs/dev/libraries.md), it catches BaseException around
handlers, and it has no per-command timeout. The protocol is a few lines: here the header
block is read with `readuntil` under a timeout and a size limit, each session is one task
the server owns, and a failing session logs one line and ends only itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from router.agi.channel import AgiChannel, AgiCommandError, AgiHangup, read_request
from router.agi.protocol import MAX_HEADER_BYTES, AgiProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[AgiChannel], Awaitable[None]]
HEADER_TIMEOUT_S = 2.0


class FastAgiServer:
    """Serves `AGI(agi://host:port/<script>)`: each script name maps to a handler."""

    def __init__(
        self,
        routes: Mapping[str, Handler],
        host: str,
        port: int,
        *,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        command_timeout_s: float = 150.0,
        max_sessions: int = 1000,
    ) -> None:
        self._routes = dict(routes)
        self._host, self._port = host, port
        self._header_timeout_s = header_timeout_s
        self._command_timeout_s = command_timeout_s
        self._max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self.refused = 0  # connections that did not speak AGI (for tests and metrics)

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the kernel's pick for port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        # The stream limit bounds every line read, the header block included.
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, limit=MAX_HEADER_BYTES
        )
        log.info("FastAGI on agi://%s:%d", self._host, self.port)

    async def close(self) -> None:
        """Stop listening and end the sessions (their calls go on in the dialplan)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio runs this callback in a task of its own; the server owns it from here.
        task = asyncio.current_task()
        assert task is not None
        if len(self._sessions) >= self._max_sessions:
            # a flood of connections: the dialplan's plain queue serves those calls
            self.refused += 1
            log.warning("FastAGI: %d sessions already; connection refused", self._max_sessions)
            writer.close()
            return
        self._sessions.add(task)
        try:
            await self._session(reader, writer)
        finally:
            self._sessions.discard(task)
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            request = await read_request(reader, self._header_timeout_s)
        except AgiProtocolError as exc:
            self.refused += 1
            log.warning("FastAGI connection from %s refused: %s", _host(peer), exc)
            return
        handler = self._routes.get(request.script)
        channel = AgiChannel(request, reader, writer, self._command_timeout_s)
        if handler is None:
            log.warning(
                "FastAGI script %r unknown (known: %s)",
                request.script[:40],
                ", ".join(self._routes),
            )
            return
        try:
            await handler(channel)
        except AgiHangup:
            log.info("FastAGI session %s: the caller hung up", request.uniqueid)
        except (AgiCommandError, AgiProtocolError, TimeoutError, OSError) as exc:
            log.warning(
                "FastAGI session %s ended: %s: %s", request.uniqueid, type(exc).__name__, exc
            )
        except Exception:  # one broken session must not end the server
            log.exception("FastAGI session %s failed", request.uniqueid)


def _host(peer: object) -> str:
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"
