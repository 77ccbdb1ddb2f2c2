"""Write-behind of journeys and live call state, off the call path.

A call never waits for the database: a slow or absent database must not delay or drop
a caller. Writes are applied in submission order by one writer task; a failed write is
retried with backoff (nothing is dropped while the process lives), and the backlog is
visible in /health.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[object]]


class Recorder:
    def __init__(
        self,
        *,
        is_transient: Callable[[Exception], bool] = lambda exc: True,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        max_attempts_permanent: int = 3,
    ) -> None:
        self._is_transient = is_transient
        self._max_attempts_permanent = max_attempts_permanent
        self._pending: deque[tuple[str, Write]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self.failures = 0

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def submit(self, label: str, write: Write) -> None:
        self._pending.append((label, write))
        self._idle.clear()
        self._wakeup.set()

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is written (True) or the timeout passes."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        delay = self._retry_initial
        attempts = 0
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            label, write = self._pending[0]
            try:
                await write()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database is down or slow: keep the write, retry
                self.failures += 1
                attempts += 1
                if not self._is_transient(exc) and attempts >= self._max_attempts_permanent:
                    # Retrying a constraint or programming error cannot succeed; holding it
                    # would stall every later write.
                    log.error(
                        "database write %s dropped after %d attempts: %s: %s",
                        label,
                        attempts,
                        type(exc).__name__,
                        exc,
                    )
                    self._pending.popleft()
                    attempts = 0
                    continue
                log.warning(
                    "database write %s failed (%s: %s); retrying in %.1fs",
                    label,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_initial
            attempts = 0
            self._pending.popleft()
