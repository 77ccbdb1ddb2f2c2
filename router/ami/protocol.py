"""The AMI wire format without I/O: `Key: Value` lines, a blank line ends a message."""

from __future__ import annotations

from collections.abc import Mapping

Message = dict[str, str]


class AmiProtocolError(Exception):
    pass


def parse_message(raw: bytes) -> Message:
    """One message block (without its blank line). Keys keep Asterisk's case; a key that
    repeats (ChanVariable) keeps its last value."""
    message: Message = {}
    for line in raw.decode("utf-8", errors="replace").split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue  # a command's output line: not used here
        message[key.strip()] = value.strip()
    return message


def action_bytes(name: str, action_id: str, fields: Mapping[str, str]) -> bytes:
    """An action; a line break in a value would start a new header, so none may hold one."""
    lines = [f"Action: {name}", f"ActionID: {action_id}"]
    for key, value in fields.items():
        if any(ch in value or ch in key for ch in "\r\n"):
            raise AmiProtocolError(f"a line break in {key}")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
