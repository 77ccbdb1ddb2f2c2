"""One FastAGI session: commands to the caller's channel and their replies.

Asterisk answers every command with one line; when the caller hangs up it sends a line
`HANGUP` first (then `511` to anything tried on the dead channel). A command whose reply
does not come within `timeout_s` ends the session: a stuck Asterisk thread must not hold
the router's coroutine forever.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping

from router.agi.protocol import (
    AgiProtocolError,
    AgiReply,
    AgiRequest,
    command_line,
    digit_of,
    parse_reply,
    parse_request,
)

log = logging.getLogger(__name__)

KEYS = "0123456789*#"

# What one `EXEC MSet` may carry as is. MSet splits its argument on `,` and each pair on
# the first `=`, honours quotes, backslashes, brackets and parentheses, and (in res_agi's
# 1.4 compatibility mode) turns `|` into `,`: a value with any of those, a blank, `$` or
# anything else outside this set is sent on its own with SET VARIABLE instead, where the
# command line's quoting is the only parsing. Values from outside (a patient id from a
# CRM) can therefore never add a variable, or a dialplan expression, to the pack.
_PACKABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\([a-z]+\))?")
_PACKABLE_VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]*")


class AgiHangup(Exception):
    """The caller's channel is gone (or Asterisk closed the session)."""


class AgiCommandError(Exception):
    """Asterisk refused a command (5xx other than a dead channel)."""


class AgiChannel:
    def __init__(
        self,
        request: AgiRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout_s: float = 150.0,
    ) -> None:
        self.request = request
        self._reader, self._writer = reader, writer
        self._timeout_s = timeout_s
        self.hung_up = False

    async def command(self, verb: str, *args: str) -> AgiReply:
        if self.hung_up:
            raise AgiHangup()
        self._writer.write(command_line(verb, *args))
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._writer.drain()
                return await self._reply(verb)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self.hung_up = True
            raise AgiHangup() from exc

    async def _reply(self, verb: str) -> AgiReply:
        while True:
            line = (await self._reader.readuntil(b"\n")).decode("utf-8", errors="replace")
            if line.strip() == "HANGUP":
                self.hung_up = True
                continue
            reply = parse_reply(line)
            if line[3:4] == "-":  # a multi-line 520 usage text: read to its last line
                while not (await self._reader.readuntil(b"\n")).startswith(b"520 "):
                    pass
            if reply.code == 200:
                return reply
            if reply.code == 511:
                self.hung_up = True
                raise AgiHangup()
            raise AgiCommandError(f"{verb}: {reply.code} {reply.rest}")

    # -- the commands the router uses ------------------------------------------------------

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", name, value)

    async def set_variables(self, values: Mapping[str, str]) -> None:
        """Several variables in one round trip (`EXEC MSet`) where their text allows; the
        others (and all of them, if this Asterisk has no MSet) one by one."""
        packed = {
            name: value
            for name, value in values.items()
            if _PACKABLE_NAME.fullmatch(name) and _PACKABLE_VALUE.fullmatch(value)
        }
        if len(packed) > 1:
            pairs = ",".join(f"{name}={value}" for name, value in packed.items())
            reply = await self.command("EXEC", "MSet", pairs)
            if reply.result == -2:  # no such application
                log.warning("Asterisk has no MSet: the decision's variables go one by one")
                packed = {}
        else:
            packed = {}
        for name, value in values.items():
            if name not in packed:
                await self.set_variable(name, value)

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == 1 else None

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def stream_file(self, name: str) -> str | None:
        """Play a sound; a key pressed during it stops it and is returned (barge-in)."""
        reply = await self.command("STREAM FILE", name, KEYS)
        if reply.result == -1:
            self._check_failed(reply, name)
        return digit_of(reply.result)

    async def say(self, kind: str, value: str) -> str | None:
        """SAY NUMBER / SAY DIGITS, interruptible by a key like a sound."""
        reply = await self.command(f"SAY {kind}", value, KEYS)
        return digit_of(reply.result)

    async def wait_for_digit(self, timeout_s: float) -> str | None:
        reply = await self.command("WAIT FOR DIGIT", str(int(timeout_s * 1000)))
        if reply.result == -1:
            raise AgiHangup()
        return digit_of(reply.result)

    def _check_failed(self, reply: AgiReply, name: str) -> None:
        """result=-1: the file could not be played, or the channel hung up meanwhile."""
        if self.hung_up:
            raise AgiHangup()
        log.warning("prompt %s could not be played (missing file?)", name)

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def read_request(reader: asyncio.StreamReader, timeout_s: float) -> AgiRequest:
    """The header block, bounded in time and size (a bare connect or a port scan sends
    nothing or garbage; neither may hold anything but its own coroutine, briefly)."""
    try:
        async with asyncio.timeout(timeout_s):
            raw = await reader.readuntil(b"\n\n")
    except TimeoutError as exc:
        raise AgiProtocolError(f"no AGI header within {timeout_s} s") from exc
    except asyncio.IncompleteReadError as exc:
        raise AgiProtocolError("connection closed before the AGI header ended") from exc
    except asyncio.LimitOverrunError as exc:
        raise AgiProtocolError("AGI header too long") from exc
    return parse_request(raw)
