"""Asterisk's side of a FastAGI session, as res_agi speaks it on the wire (tests and the
AGI benchmark fake the wire, never our own classes): the `agi_*` header block, then one
reply line per command."""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass, field

KEYED = ("STREAM FILE", "SAY NUMBER", "SAY DIGITS", "WAIT FOR DIGIT")


def header(callerid: str, did: str, uniqueid: str = "1764770000.1", script: str = "route") -> bytes:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1/{script}",
        "agi_channel: PJSIP/trunk-00000001",
        "agi_language: en",
        f"agi_uniqueid: {uniqueid}",
        f"agi_callerid: {callerid}",
        "agi_calleridname: unknown",
        "agi_context: clinic-router-agi-entry",
        f"agi_extension: {did}",
        "agi_priority: 6",
    ]
    return ("\n".join(lines) + "\n\n").encode()


@dataclass
class Session:
    """What the router did in one session: its commands and the variables it set."""

    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def played(self) -> list[str]:
        return [c for c in self.commands if c.startswith(("STREAM FILE", "SAY "))]


async def agi_call(
    port: int,
    callerid: str,
    did: str,
    keys: list[str | None] | None = None,
    hangup_after: int | None = None,
    uniqueid: str = "1764770000.1",
    script: str = "route",
) -> Session:
    """One AGI() from the dialplan. `keys`: what the caller presses during each prompt or
    digit wait, in order (None: nothing); `hangup_after`: the caller hangs up after that
    many commands (Asterisk then says HANGUP and refuses the rest with 511)."""
    pending = list(keys or [])
    session = Session()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header(callerid, did, uniqueid, script))
    try:
        while line := (await reader.readline()).decode():
            command = line.rstrip("\n")
            session.commands.append(command)
            if hangup_after is not None and len(session.commands) > hangup_after:
                writer.write(
                    b"HANGUP\n511 Command Not Permitted on a dead channel or intercepted\n"
                )
                await writer.drain()
                continue
            writer.write(_reply(command, pending, session).encode())
            await writer.drain()
    finally:
        writer.close()
    return session


def _reply(command: str, pending: list[str | None], session: Session) -> str:
    if command.startswith("SET VARIABLE"):
        name, value = shlex.split(command)[2:4]
        session.variables[name] = value
        return "200 result=1\n"
    if command.startswith("EXEC"):
        app, *data = shlex.split(command)[1:3]
        if app.lower() != "mset":
            return "200 result=-2\n"  # res_agi: no such application
        # MSet: name=value pairs split on `,`, each on its first `=` (what the router
        # sends is plain text: channel.set_variables sends anything else one by one)
        for pair in (data[0] if data else "").split(","):
            name, eq, value = pair.partition("=")
            if eq:
                session.variables[name] = value
        return "200 result=0\n"
    if command.startswith("GET VARIABLE"):
        return "200 result=0\n"
    if command.startswith(KEYED):
        key = pending.pop(0) if pending else None
        code = ord(key) if key else 0
        return f"200 result={code} endpos=8000\n"
    return "200 result=0\n"
