"""A YAML reader for files that admins edit: plain data only, every position kept.

Built on PyYAML's own composer (`yaml.compose`, libyaml's when installed): its nodes
carry line and column, and we turn them into data ourselves (`yamltree`) instead of
using PyYAML's constructor, so that:

- every key and value keeps its position (`operators[2].skills.dms` -> `rules.yaml:14:7`);
- a duplicate key is an error at the second occurrence (PyYAML silently keeps the last);
- only data tags are accepted: `!!python/object`, `!!binary`, `!custom` are rejected;
- plain scalars resolve the YAML 1.2 way, not 1.1: `9:00` stays the text "9:00" (1.1 reads
  the integer 540), `no`/`on` stay text (the "Norway problem"), `+74952232222` and `0123`
  stay text (a number never loses a leading `+` or `0`), `2026-12-31` stays text (the
  schema parses dates). Only canonical numbers (`15`, `-3`, `0.5`), `true`/`false` and
  `null`/`~`/empty become non-text;
- nesting depth and alias expansion are capped, so "billion laughs" and `[[[[…` cannot
  exhaust memory or CPU; size is capped before parsing; binary input is refused up front.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from yaml.nodes import ScalarNode

from router.config.errors import ConfigError, ConfigIssue, KeyPath, file_issue, format_path
from router.config.yamltree import (
    Checker,
    Converter,
    Mark,
    Spot,
    compose,
    resolve_plain,
    scalar_value,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Mark",
    "PositionIndex",
    "Where",
    "YamlDocument",
    "load_yaml",
    "parse_yaml",
    "resolve_plain",
]

DEFAULT_MAX_BYTES = 2 * 1024 * 1024

# YAML forbids C0/C1 controls except tab, LF, CR, NEL; they mean "not a text file".
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x84\x86-\x9f\ufffe\uffff]")


Where = Literal["auto", "key", "value"]


class PositionIndex:
    """Source positions by key path; unknown paths resolve to their nearest known parent."""

    def __init__(self, spots: dict[KeyPath, Spot]) -> None:
        self._spots = spots

    def __contains__(self, path: KeyPath) -> bool:
        return path in self._spots

    def key(self, path: KeyPath) -> Mark | None:
        spot = self._spots.get(path)
        return spot.key if spot else None

    def value(self, path: KeyPath) -> Mark | None:
        spot = self._spots.get(path)
        return spot.value if spot else None

    def locate(self, path: KeyPath, at: Where = "auto") -> Mark:
        """Where to point for a problem at `path`.

        "auto" points at the key when the value starts on a later line (a block list or
        mapping, whose first line would be confusing) and at the value otherwise.
        """
        for end in range(len(path), -1, -1):
            spot = self._spots.get(path[:end])
            if spot is None:
                continue
            if spot.key is not None and (
                at == "key" or (at == "auto" and spot.value.line > spot.key.line)
            ):
                return spot.key
            return spot.value
        return Mark(1, 1)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed file: plain Python data plus where each piece came from."""

    source: str
    data: Any
    positions: PositionIndex
    sha256: str

    def issue(self, path: KeyPath, message: str, at: Where = "auto") -> ConfigIssue:
        mark = self.positions.locate(path, at)
        return ConfigIssue(self.source, mark.line, mark.column, format_path(path), message)


def load_yaml(
    path: str | Path, *, source: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> YamlDocument:
    """Read and parse a YAML file. Raises ConfigError naming `source` (default: `path`)."""
    name = source if source is not None else str(path)
    return parse_yaml(_read_capped(Path(path), name, max_bytes), name, max_bytes=max_bytes)


def parse_yaml(raw: bytes, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> YamlDocument:
    """Parse YAML bytes into plain data and a position index. Raises ConfigError."""
    if len(raw) > max_bytes:
        raise ConfigError([file_issue(source, _too_large(len(raw), max_bytes))])
    text = _decode(raw, source)
    root, issues = compose(text, source)
    if not issues and (
        root is None or (isinstance(root, ScalarNode) and scalar_value(root) is None)
    ):
        issues = [file_issue(source, "the file is empty (nothing but comments)")]
    if not issues:
        assert root is not None
        checker = Checker(source)
        checker.check(root)
        issues = checker.issues
    if issues:
        raise ConfigError(issues)
    assert root is not None
    converter = Converter(source)
    data = converter.convert(root)
    if converter.issues:
        raise ConfigError(converter.issues)
    digest = hashlib.sha256(raw).hexdigest()
    return YamlDocument(source, data, PositionIndex(converter.spots), digest)


def _read_capped(path: Path, source: str, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
            size = max(len(raw), _size_of(f.fileno()))
    except FileNotFoundError:
        raise ConfigError([file_issue(source, "file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([file_issue(source, "this is a folder, not a file")]) from None
    except PermissionError:
        raise ConfigError([file_issue(source, "cannot read the file: permission denied")]) from None
    except OSError as e:
        raise ConfigError([file_issue(source, f"cannot read the file: {e.strerror}")]) from None
    if size > max_bytes:
        raise ConfigError([file_issue(source, _too_large(size, max_bytes))])
    return raw


def _size_of(fd: int) -> int:
    return os.fstat(fd).st_size


def _too_large(size: int, limit: int) -> str:
    return (
        f"the file is {_human(size)}, larger than the {_human(limit)} limit for a config file;"
        " is this the right file?"
    )


def _human(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _decode(raw: bytes, source: str) -> str:
    """UTF-8 text without a BOM, or a ConfigError that says why it is not text."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError([file_issue(source, "the file is UTF-16 text; save it as UTF-8")])
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, col = _byte_position(raw, nul)
        msg = "the file contains a NUL byte: it looks like a binary file, not YAML text"
        raise ConfigError([ConfigIssue(source, line, col, "", msg)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = _byte_position(raw, e.start)
        msg = f"not valid UTF-8 text (byte 0x{raw[e.start]:02x}); save the file as UTF-8"
        raise ConfigError([ConfigIssue(source, line, col, "", msg)]) from None
    text = text.removeprefix("\ufeff")
    bad = _CONTROL.search(text)
    if bad:
        line, col = _text_position(text, bad.start())
        msg = (
            f"the file contains the control character U+{ord(bad.group()):04X}:"
            " it looks like a binary file, not YAML text"
        )
        raise ConfigError([ConfigIssue(source, line, col, "", msg)])
    return text


def _byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column


def _text_position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1
