"""The FastAGI wire format, parsed without I/O.

Asterisk opens a TCP connection per `AGI(agi://host:port/script,arg…)`, sends the channel's
`agi_*` variables one per line ending with an empty line, then reads one command per line
and answers each with one line: `200 result=<n> [(data)] [key=value…]`. Everything the
connection carries is untrusted (caller IDs, a port scanner's bytes): headers are bounded,
and no value we send can break out of its command line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

MAX_HEADER_BYTES = 16_384  # Asterisk sends about 1 KiB; anything longer is not Asterisk
_HEADER = re.compile(r"^(agi_[a-z0-9_]+): ?(.*)$")
_REPLY = re.compile(r"^(\d{3})[ -](?:result=(-?\d+)(?: \((.*)\))?)?(.*)$")


class AgiProtocolError(Exception):
    """The peer did not speak AGI (bad header, bad reply line)."""


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """What Asterisk tells about the channel when a FastAGI session starts."""

    script: str  # the URL's path without the leading '/': `route`
    channel: str
    uniqueid: str
    callerid: str  # raw, untrusted; `unknown` when withheld
    extension: str
    context: str
    language: str
    args: tuple[str, ...]
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AgiReply:
    code: int
    result: int | None
    data: str | None  # the text in parentheses: a variable's value, `timeout`
    rest: str  # `endpos=1234` and the like


def parse_request(raw: bytes) -> AgiRequest:
    """The session's header block (up to and including the empty line)."""
    if len(raw) > MAX_HEADER_BYTES:
        raise AgiProtocolError(f"header block over {MAX_HEADER_BYTES} bytes")
    text = raw.decode("utf-8", errors="replace")
    headers: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        match = _HEADER.match(line)
        if match is None:
            raise AgiProtocolError("a header line is not `agi_name: value`")
        headers[match.group(1)] = match.group(2)
    for required in ("agi_channel", "agi_uniqueid"):
        if not headers.get(required):
            raise AgiProtocolError(f"no {required} header")
    args = tuple(headers[f"agi_arg_{n}"] for n in range(1, 100) if f"agi_arg_{n}" in headers)
    return AgiRequest(
        script=_script(headers.get("agi_network_script") or headers.get("agi_request", "")),
        channel=headers["agi_channel"],
        uniqueid=headers["agi_uniqueid"],
        callerid=headers.get("agi_callerid", "unknown"),
        extension=headers.get("agi_extension", ""),
        context=headers.get("agi_context", ""),
        language=headers.get("agi_language", "en"),
        args=args,
        headers=MappingProxyType(headers),
    )


def _script(value: str) -> str:
    """`agi://127.0.0.1:4573/route?x` or `route` -> `route`."""
    if "://" in value:
        value = value.split("://", 1)[1]
        value = value.split("/", 1)[1] if "/" in value else ""
    return value.split("?", 1)[0].strip("/")


def parse_reply(line: str) -> AgiReply:
    """One reply line: `200 result=1 (value)`, `510 Invalid or unknown command`."""
    match = _REPLY.match(line.rstrip("\r\n"))
    if match is None:
        raise AgiProtocolError("not an AGI reply line")
    code, result, data, rest = match.groups()
    return AgiReply(int(code), int(result) if result is not None else None, data, rest.strip())


def quote(value: str) -> str:
    """One command argument. Asterisk splits commands on blanks and honours double quotes
    and backslashes; a line break would end the command and start another, so control
    characters are dropped (a patient id from a CRM must not become a command)."""
    clean = "".join(ch for ch in value if ch >= " " and ch != "\x7f")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_line(verb: str, *args: str) -> bytes:
    """`verb` is ours (a constant); every argument is quoted."""
    return (" ".join([verb, *(quote(a) for a in args)]) + "\n").encode()


def digit_of(result: int | None) -> str | None:
    """STREAM FILE / WAIT FOR DIGIT give the key as its ASCII code, 0 for none.
    Only 0-9 * # count: anything else from the wire is not a key."""
    if result is None or result <= 0:
        return None
    key = chr(result) if result < 128 else ""
    return key if key and key in "0123456789*#" else None
