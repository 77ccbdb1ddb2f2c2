"""Write-behind of journeys and live call state, off the call path.

A call never waits for the database: a slow or absent database must not delay or drop
a caller. Writes are applied in submission order by one writer task; a failed write is
retried with backoff, and the backlog, the failures and the drops are in /health and
/metrics (`health()`). The log says once when writes start failing and once when they
work again, not at every retry.

The backlog is bounded (`backlog_max`): at the bound, new journey detail (steps, ring
attempts) is dropped and counted; at twice the bound, everything else too except
misses, which become callback tasks and are never dropped (`Kind`).

Journal records (`record`) are written in batches: the writer lets them gather for a
moment (`linger_s`) and applies up to `batch_max` of them in one transaction. A batch
that fails for good is written again one record at a time, so that only the bad record
is dropped. Other writes (`submit`) run alone, in their place in the order.

A record that must survive a `kill -9` (a call's first row: without it a caller who
hangs up while the router is dead leaves no trace) is written at once, and its caller
may wait a bounded moment for it (`record_now`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from router.domain.wait_resume import RESUME_EVENTS
from router.storage.journal import (
    CallbackRing,
    CallEvent,
    CallUpdate,
    CloseCallbacks,
    JournalOp,
    NewCall,
    OperatorState,
    RingAttempt,
)

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[object]]
ApplyBatch = Callable[[Sequence[JournalOp]], Awaitable[object]]

BACKLOG_MAX = 100_000  # records held while the database is away (settings: database.backlog_max)
STALL_S = 30.0  # a backlog with no write landing for this long is "not storing"
FULL = "backlog_full"  # why a record was dropped: the bound ...
FAILED = "write_failed"  # ... or a write that can never succeed (a constraint, a bad value)


class Kind(StrEnum):
    """What a held record is: for the bound, and the counts of what was dropped."""

    JOURNEY = "journey"  # journey steps and ring attempts: dropped first
    CALL = "call"  # calls' rows, phase and outcome
    OPERATOR = "operator"  # operators' live state
    CALLBACK = "callback"  # a patient got through: their callback task is done; never dropped
    OTHER = "other"  # writes of their own (operator sync)
    MISS = "miss"  # a missed call and its callback task: never dropped


def kind_of(op: JournalOp) -> Kind:
    if isinstance(op, CallEvent) and op.kind in RESUME_EVENTS:
        return Kind.CALL  # a restart resumes a waiting caller from these: live state
    if isinstance(op, CallEvent | RingAttempt | CallbackRing):
        return Kind.JOURNEY
    if isinstance(op, OperatorState):
        return Kind.OPERATOR
    if isinstance(op, CloseCallbacks):
        return Kind.CALLBACK
    return Kind.CALL


@dataclass(frozen=True, slots=True)
class _Callback:
    label: str
    write: Write
    kind: Kind


_Entry = JournalOp | _Callback


def _call_of(entry: _Entry) -> str | None:
    if isinstance(entry, NewCall):
        return entry.row.id
    if isinstance(entry, CallUpdate | CallEvent | RingAttempt | CloseCallbacks):
        return entry.call_id
    return None


def _kind(entry: _Entry) -> Kind:
    return entry.kind if isinstance(entry, _Callback) else kind_of(entry)


@dataclass(frozen=True, slots=True)
class WriteHealth:
    """Whether what the router records reaches the database, at one moment."""

    backlog: int
    backlog_max: int
    consecutive_failures: int
    failing_for_s: float | None  # since the first failure of the current streak
    last_error: str | None
    last_write_at: float | None  # Unix time of the last write that landed
    waiting_s: float  # how long the backlog has waited with no write landing (0: empty)
    failures: int  # failed attempts since start
    dropped: Mapping[tuple[Kind, str], int]  # (kind, FULL or FAILED) -> records
    stall_s: float = STALL_S

    @property
    def problem(self) -> str | None:
        """Why nothing is being stored now (None: writes land)."""
        if self.consecutive_failures:
            return (
                f"database writes failing for {self.failing_for_s or 0:.0f} s "
                f"({self.consecutive_failures} attempts; last: {self.last_error}); "
                f"{self.backlog} records held in memory"
            )
        if self.waiting_s >= self.stall_s:
            return (
                f"no database write has landed for {self.waiting_s:.0f} s; "
                f"{self.backlog} records held in memory"
            )
        return None


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
        backlog_max: int = BACKLOG_MAX,
        stall_s: float = STALL_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
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
        self.backlog_max = backlog_max
        self._stall_s = stall_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._consecutive = 0
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._last_write_at: float | None = None
        self._progress_at = clock()  # last write landed, or the backlog started
        self.dropped: Counter[tuple[Kind, str]] = Counter()
        self._shedding: set[Kind] = set()  # kinds dropped at the bound, logged once each
        self._listeners: list[Callable[[JournalOp], None]] = []
        self._queued = 0  # entries ever queued; an entry's number is the count at its queueing
        self._handled = 0  # entries ever written or dropped (the head of the order)
        self._landing: deque[tuple[int, asyncio.Future[None]]] = deque()  # record_now's waits

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def health(self) -> WriteHealth:
        now = self._clock()
        since = self._failing_since
        return WriteHealth(
            backlog=len(self._pending),
            backlog_max=self.backlog_max,
            consecutive_failures=self._consecutive,
            failing_for_s=None if since is None else now - since,
            last_error=self._last_error,
            last_write_at=self._last_write_at,
            waiting_s=now - self._progress_at if self._pending else 0.0,
            failures=self.failures,
            dropped=dict(self.dropped),
            stall_s=self._stall_s,
        )

    def submit(self, label: str, write: Write, kind: Kind = Kind.OTHER) -> None:
        """Queue a write of its own (a transaction the writer cannot batch)."""
        self._queue(_Callback(label, write, kind))

    def add_listener(self, listener: Callable[[JournalOp], None]) -> None:
        """`listener(op)` for every journal record as it is queued, before any write (the
        console's wallboard counts today's calls from them instead of re-reading them)."""
        self._listeners.append(listener)

    def record(self, op: JournalOp) -> None:
        """Queue a journal record, to be written with its neighbours in one transaction."""
        if self._apply is None:
            raise RuntimeError("this recorder was built without a journal to apply records")
        for listener in self._listeners:
            listener(op)
        self._queue(op)

    async def record_now(self, op: JournalOp, timeout: float) -> bool:
        """Queue `op` and write it without lingering; wait until it has been handled (True:
        written, or dropped for good as a bad record, logged and counted), at most
        `timeout` s. False at once while writes fail (a caller must not wait for a
        database that is away; the record stays queued, in order) or when the record was
        dropped at the bound."""
        number = self._queued + 1
        self.record(op)
        if self._queued < number or self._consecutive:
            return False
        landed = asyncio.get_running_loop().create_future()
        self._landing.append((number, landed))
        self._hurry.set()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(landed)
        except TimeoutError:
            return False
        return True

    def _limit(self, kind: Kind) -> int | None:
        if kind in (Kind.MISS, Kind.CALLBACK):
            return None  # a miss is a task; a close stops a patient being called back
        return self.backlog_max if kind is Kind.JOURNEY else 2 * self.backlog_max

    def _queue(self, entry: _Entry) -> None:
        kind = _kind(entry)
        limit = self._limit(kind)
        if limit is not None and len(self._pending) >= limit:
            self._drop_full(kind)
            return
        self._queued += 1
        if not self._pending:
            self._progress_at = self._clock()
        self._pending.append(entry)
        self._idle.clear()
        self._wakeup.set()
        if len(self._pending) >= self._batch_max:
            self._hurry.set()

    def queued_calls(self) -> frozenset[str]:
        """The calls whose journal records are still queued (or being written): their rows
        in the database are behind what this process knows of them."""
        ids = (_call_of(entry) for entry in self._pending)
        return frozenset(call_id for call_id in ids if call_id is not None)

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is written (True) or the timeout passes."""
        if not self._pending:
            # Nothing to write: a hurry left set would cost the next batch its linger.
            return True
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
            self._landed()
            self._done(len(batch))

    def _landed(self) -> None:
        now = self._clock()
        if self._failing_since is not None:
            log.info(
                "database writes work again after %d failed attempts over %.1f s; "
                "%d records held to write",
                self._consecutive,
                now - self._failing_since,
                len(self._pending),
            )
        self._consecutive = 0
        self._failing_since = None
        self._last_error = None
        self._progress_at = now
        self._last_write_at = self._wall_clock()

    def _drop_full(self, kind: Kind) -> None:
        self.dropped[kind, FULL] += 1
        if kind not in self._shedding:
            self._shedding.add(kind)
            log.warning(
                "journal backlog at its bound (%d records held): %s records are dropped from "
                "now on, misses are still kept; drops are counted in /metrics",
                len(self._pending),
                kind,
            )

    async def _failed(self, batch: list[_Entry], exc: Exception) -> None:
        self.failures += 1
        transient = self._is_transient(exc)
        what = f"{type(exc).__name__}: {exc}"
        self._consecutive += 1
        self._last_error = what
        if self._failing_since is None:
            self._failing_since = self._clock()
            log.warning(
                "database writes failing (%s); %d records are held and retried until they land",
                what,
                len(self._pending),
            )
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
            self.dropped[_kind(batch[0]), FAILED] += 1
            self._done(1)
            self._attempts = 0
            return
        label = batch[0].label if len(batch) == 1 else f"batch of {len(batch)}"
        log.debug("database write %s failed (%s); retrying in %.1fs", label, what, self._delay)
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
        self._handled += count
        while self._landing and self._landing[0][0] <= self._handled:
            _, landed = self._landing.popleft()
            if not landed.done():
                landed.set_result(None)
        self._isolate = max(0, self._isolate - count)
        if self._shedding and len(self._pending) < self.backlog_max:
            dropped = {k.value: n for (k, why), n in self.dropped.items() if why == FULL}
            log.info("journal backlog under its bound again; dropped so far: %s", dropped)
            self._shedding.clear()
