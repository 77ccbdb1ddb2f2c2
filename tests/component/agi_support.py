"""Asterisk's side of a FastAGI session (sip_test_harness/agi_wire.py, shared with the
AGI benchmark), and a menu session with something happening elsewhere in the middle."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sip_test_harness.agi_wire import Session, agi_call, header

__all__ = ["Session", "agi_call", "header", "menu_call"]


async def menu_call(
    port: int,
    uid: str,
    key: str | None,
    before: tuple[str, ...],
    meanwhile: Callable[[], Awaitable[bool]],
    *,
    callerid: str = "+79990001188",
    did: str = "74957770000",
) -> None:
    """An AGI session whose caller presses `key` at the menu's first prompt. Before
    Asterisk answers the first command starting with one of `before`, `meanwhile()` runs
    once (an AMI event, a login): True, the caller hangs up there, and every command from
    then on is refused as on a dead channel."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header(callerid, did, uid))
    keys, ran, gone = [key], False, False
    try:
        while line := (await reader.readline()).decode():
            if line.startswith(before) and not ran:
                ran, gone = True, await meanwhile()
            if gone:
                writer.write(b"HANGUP\n511 Command Not Permitted on a dead channel\n")
            elif line.startswith(("STREAM FILE", "WAIT FOR DIGIT")):
                pressed = keys.pop() if keys else None
                writer.write(f"200 result={ord(pressed) if pressed else 0} endpos=8000\n".encode())
            else:
                writer.write(b"200 result=1\n")
            await writer.drain()
    finally:
        writer.close()
