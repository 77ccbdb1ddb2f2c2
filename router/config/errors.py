"""Configuration problems as admins read them: `file:line:column: key.path: message`.

Every loader collects *all* the problems it can find into one `ConfigError`, so an admin
fixes a file in one pass instead of one error per run (Home Assistant's config check).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

KeyPath = tuple[str | int, ...]
"""A position in the data: `("operators", 2, "skills", "dms")` is `operators[2].skills.dms`."""

_PLAIN_KEY = re.compile(r"^[^\s.\[\]\"']+$")


def format_path(path: KeyPath) -> str:
    """`("operators", 2, "skills", "dms")` -> `operators[2].skills.dms`.

    Keys that would be ambiguous in dotted form (spaces, dots, brackets, quotes) are
    written as `["key"]`.
    """
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in one file. `line`/`column` are 1-based; None for whole-file problems."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.path:
            return f"{where}: {self.path}: {self.message}"
        return f"{where}: {self.message}"

    def format(self) -> str:
        """The `file:line:column: key.path: message` line (same as `str(issue)`)."""
        return str(self)

    def format_warning(self) -> str:
        """The same line for a problem that is reported but accepted."""
        return str(
            ConfigIssue(self.file, self.line, self.column, self.path, "warning: " + self.message)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line or 0, self.column or 0, self.path)


class ConfigError(Exception):
    """A configuration that cannot be used, with every problem found in it.

    `str(error)` is one `file:line:column: key.path: message` line per issue; it never
    contains secret values.
    """

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        ordered = sorted(dict.fromkeys(issues), key=ConfigIssue.sort_key)
        if not ordered:
            raise ValueError("a ConfigError needs at least one issue")
        self.issues: tuple[ConfigIssue, ...] = tuple(ordered)
        super().__init__(self.render_text())

    def render_text(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [issue.to_dict() for issue in self.issues]

    def render_json(self) -> str:
        return json.dumps({"ok": False, "issues": self.to_dicts()}, ensure_ascii=False, indent=2)

    def __str__(self) -> str:
        return self.render_text()


def file_issue(file: str, message: str) -> ConfigIssue:
    """A problem with the file as a whole (missing, too large, empty)."""
    return ConfigIssue(file=file, line=None, column=None, path="", message=message)


def suggest(word: str, known: Sequence[str], *, what: str = "valid") -> str:
    """` (did you mean 'x'?)` or ` (valid: a, b, c)`: the hint admins need after a typo."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    if not close and word.lower() != word:
        close = [k for k in known if k.lower() == word.lower()][:1]
    if close:
        return f" (did you mean '{close[0]}'?)"
    if not known:
        return ""
    shown = sorted(known)
    listed = ", ".join(shown[:12]) + (", …" if len(shown) > 12 else "")
    return f" ({what}: {listed})"
