"""The rules in force, and their hot reload.

A reload validates the whole new file first and swaps it in whole; a file with errors is
rejected and the last good set keeps serving (the errors are kept for `GET /api/rules`).
Calls already in progress keep the version they started with: each call records the
version at its start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from router.config.errors import ConfigError
from router.config.rules import Rules, load_rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejected:
    at: datetime
    trigger: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class ReloadResult:
    changed: bool
    version: str
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors


class LiveRules:
    """Holds the current `Rules`; `reload()` swaps them atomically on the event loop."""

    def __init__(
        self, path: Path, rules: Rules, on_swap: Callable[[Rules], Awaitable[None]] | None = None
    ) -> None:
        self.path = path
        self.current = rules
        self.loaded_at = datetime.now(UTC)
        self.last_rejected: Rejected | None = None
        self.on_swap = on_swap
        self._lock = asyncio.Lock()  # two triggers at once must not interleave their swaps
        self._seen = self._stamp()
        _log_warnings(rules, "start")

    @property
    def version(self) -> str:
        return self.current.version

    async def reload(self, trigger: str) -> ReloadResult:
        async with self._lock:
            self._seen = self._stamp()
            try:
                # Parsing a large file takes a moment: keep the event loop (calls) running.
                new = await asyncio.to_thread(load_rules, self.path)
            except ConfigError as exc:
                errors = tuple(issue.format() for issue in exc.issues)
                self.last_rejected = Rejected(datetime.now(UTC), trigger, errors)
                log.error(
                    "rules reload (%s) rejected, still serving version %s:\n%s",
                    trigger,
                    self.current.version,
                    "\n".join(errors),
                )
                return ReloadResult(False, self.current.version, errors)
            if new.version == self.current.version:
                return ReloadResult(False, new.version)
            old = self.current.version
            self.current = new
            self.loaded_at = datetime.now(UTC)
            if self.on_swap is not None:
                await self.on_swap(new)
            log.info("rules reloaded (%s): version %s -> %s", trigger, old, new.version)
            _log_warnings(new, trigger)
            return ReloadResult(True, new.version)

    async def watch(self, interval: float = 1.0) -> None:
        """Reload when the file changes (editors replace or rewrite it)."""
        while True:
            await asyncio.sleep(interval)
            if self._stamp() != self._seen:
                await self.reload("file change")

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def describe(self) -> dict[str, object]:
        rejected = self.last_rejected
        return {
            "version": self.current.version,
            "loaded_from": str(self.current.loaded_from),
            "loaded_at": self.loaded_at.isoformat(),
            "operators": len(self.current.operators),
            "warnings": [w.format() for w in self.current.warnings],
            "last_rejected": None
            if rejected is None
            else {
                "at": rejected.at.isoformat(),
                "trigger": rejected.trigger,
                "errors": list(rejected.errors),
            },
        }


def _log_warnings(rules: Rules, trigger: str) -> None:
    """What `check` warns about, in the log too: the admin who reloads may not run check."""
    if rules.warnings:
        log.warning(
            "rules version %s (%s) is in force with %d warning(s):\n%s",
            rules.version,
            trigger,
            len(rules.warnings),
            "\n".join(w.format_warning() for w in rules.warnings),
        )
