"""Write-behind of journeys and live call state, off the call path.

A call never waits for the database: a slow or absent database must not delay or drop
a caller. Writes are applied in submission order by one writer task; a failed write is
retried with backoff (nothing is dropped while the process lives), and the backlog is
visible in /health.

Journal records (`record`) are written in batches: the writer lets them gather for a
moment (`linger_s`) and applies up to `batch_max` of them in one transaction. A batch
that fails for good is written again one record at a time, so that only the bad record
is dropped. Other writes (`submit`) run alone, in their place in the order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import cast

from router.storage.journal import JournalOp

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[object]]
ApplyBatch = Callable[[Sequence[JournalOp]], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class _Callback:
    label: str
    write: Write


_Entry = JournalOp | _Callback


class Recorder:
    def __init__(
        self,
        apply: ApplyBatch | None = None,
        *,
        is_transient: Callable[[Exception], bool] = lambda exc: True,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        max_attempts_permanent: int = 3,
        batch_max: int = 200,
        linger_s: float = 0.1,
    ) -> None:
        self._apply = apply
        self._is_transient = is_transient
        self._max_attempts_permanent = max_attempts_permanent
        self._batch_max = batch_max
        self._linger_s = linger_s
        self._pending: deque[_Entry] = deque()
        self._wakeup = asyncio.Event()
        self._hurry = asyncio.Event()  # flush() waits, or a full batch is ready
        self._idle = asyncio.Event()
        self._idle.set()
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._isolate = 0  # entries at the head to write one at a time (a batch failed)
        self._delay = retry_initial
        self._attempts = 0
        self.failures = 0

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def submit(self, label: str, write: Write) -> None:
        """Queue a write of its own (a transaction the writer cannot batch)."""
        self._queue(_Callback(label, write))

    def record(self, op: JournalOp) -> None:
        """Queue a journal record, to be written with its neighbours in one transaction."""
        if self._apply is None:
            raise RuntimeError("this recorder was built without a journal to apply records")
        self._queue(op)

    def _queue(self, entry: _Entry) -> None:
        self._pending.append(entry)
        self._idle.clear()
        self._wakeup.set()
        if len(self._pending) >= self._batch_max:
            self._hurry.set()

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is written (True) or the timeout passes."""
        self._hurry.set()
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                self._hurry.clear()
                await self._wakeup.wait()
                await self._linger()
                continue
            batch = self._next_batch()
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database is down or slow: keep the write, retry
                await self._failed(batch, exc)
                continue
            self._delay = self._retry_initial
            self._attempts = 0
            self._done(len(batch))

    async def _failed(self, batch: list[_Entry], exc: Exception) -> None:
        self.failures += 1
        transient = self._is_transient(exc)
        what = f"{type(exc).__name__}: {exc}"
        if len(batch) > 1 and not transient:
            # One bad record fails its whole transaction: write the batch again record by
            # record, so that only the bad one is dropped.
            log.warning("%d journal writes failed together (%s); one by one now", len(batch), what)
            self._isolate = len(batch)
            return
        self._attempts += 1
        if not transient and self._attempts >= self._max_attempts_permanent:
            # Retrying a constraint or programming error cannot succeed; holding it would
            # stall every later write.
            log.error(
                "database write %s dropped after %d attempts: %s",
                batch[0].label,
                self._attempts,
                what,
            )
            self._done(1)
            self._attempts = 0
            return
        label = batch[0].label if len(batch) == 1 else f"batch of {len(batch)}"
        log.warning("database write %s failed (%s); retrying in %.1fs", label, what, self._delay)
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, self._retry_max)

    async def _linger(self) -> None:
        """Let records gather for one transaction, unless someone waits for them."""
        if self._linger_s <= 0 or self._hurry.is_set():
            return
        try:
            async with asyncio.timeout(self._linger_s):
                await self._hurry.wait()
        except TimeoutError:
            pass

    def _next_batch(self) -> list[_Entry]:
        head = self._pending[0]
        if isinstance(head, _Callback) or self._isolate > 0:
            return [head]
        batch: list[_Entry] = []
        for entry in itertools.islice(self._pending, self._batch_max):
            if isinstance(entry, _Callback):
                break
            batch.append(entry)
        return batch

    async def _write(self, batch: list[_Entry]) -> None:
        head = batch[0]
        if isinstance(head, _Callback):
            await head.write()
            return
        if self._apply is None:  # record() refuses records without it
            raise RuntimeError("no journal to apply records")
        await self._apply(cast(list[JournalOp], batch))  # no _Callback in a batch

    def _done(self, count: int) -> None:
        for _ in range(count):
            self._pending.popleft()
        self._isolate = max(0, self._isolate - count)
