"""The wallboard's live feed: one snapshot built per change, shared by every open page.

Operator changes and the waiting room wake it at once (their listeners), and so does a
call that ends and changes today's figures: those are counted as the router journals
them (`router.domain.wallboard_today`), read from the store only when the feed starts,
at the clinic's midnight, and when a call ends that was never seen starting. Callback
counts are read every `figures_every_s`. A snapshot is built only when something
changed (or at that period, in case a change woke nobody), only while someone watches,
and sent only if it differs. Pages get each snapshot at most once, rendered once per
kind of viewer (numbers masked or whole), however many are open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from router.console.live import LiveCall, LiveSource
from router.domain.wallboard import CallbackCounts, CallOfToday, Wallboard, summarise
from router.domain.wallboard_today import CallsOfToday
from router.storage.console_figures import ConsoleFigures
from router.storage.journal import CallEvent, CallUpdate, JournalOp, NewCall

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Callbacks:
    """Open and overdue callback tasks, in all and per queue."""

    total: CallbackCounts = field(default_factory=CallbackCounts)
    by_queue: dict[str, CallbackCounts] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TodayReads:
    """What the board reads from the store: the clinic's midnight (now), the calls since
    a midnight by id, and the callback counts."""

    midnight: Callable[[], datetime]
    calls: Callable[[datetime], Awaitable[Mapping[str, CallOfToday]]]
    callbacks: Callable[[], Awaitable[Callbacks]]


NO_TARGETS: Callable[[], Mapping[str, float]] = dict


def today_figures(figures: ConsoleFigures, zone: ZoneInfo, overdue_s: float) -> TodayReads:
    """The day's calls (since midnight in `zone`) and callback counts, from the store."""

    def midnight() -> datetime:
        return datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)

    async def callbacks() -> Callbacks:
        now = datetime.now(zone)
        return Callbacks(
            await figures.callbacks(now, overdue_s),
            await figures.callbacks_by_queue(now, overdue_s),
        )

    return TodayReads(midnight, figures.calls_by_id_since, callbacks)


@dataclass(frozen=True, slots=True)
class Frame:
    generation: int
    board: Wallboard
    # the call each operator talks to or is rung for, when the snapshot was built (the
    # operator pages read theirs from here instead of walking every live call each)
    calls: Mapping[str, LiveCall] = field(default_factory=dict)


class WallboardFeed:
    def __init__(
        self,
        source: LiveSource,
        reads: TodayReads,
        *,
        clock: Callable[[], float],
        interval_s: float = 0.25,
        min_gap_s: float = 0.05,
        figures_every_s: float = 5.0,
        sl_target_s: float = 20.0,
        sl_targets: Callable[[], Mapping[str, float]] = NO_TARGETS,
    ) -> None:
        self._source = source
        self._reads = reads
        self._clock = clock
        self._interval_s = interval_s
        self._min_gap_s = min_gap_s
        self._figures_every_s = figures_every_s
        self._sl_target_s = sl_target_s
        self._sl_targets = sl_targets  # per queue, from the rules in force
        self._wake = asyncio.Event()
        self._changed = True  # something may differ from the last snapshot
        self._watchers: dict[bool, set[asyncio.Queue[Frame | None]]] = {False: set(), True: set()}
        self._last: dict[bool, Frame] = {}
        self._rendered: dict[bool, tuple[int, str]] = {}
        self._generation = 0
        self._day = CallsOfToday(reads.midnight())
        self._journal_fed = False  # else the day is read again with the callbacks
        self._callbacks = Callbacks()
        self._figures_at: float | None = None
        self._day_read_at: float | None = None
        source.board.add_listener(lambda _status: self._touch())
        source.room.add_listener(self._touch)

    @property
    def source(self) -> LiveSource:
        return self._source

    @property
    def watchers(self) -> int:
        return sum(len(queues) for queues in self._watchers.values())

    def _touch(self) -> None:
        self._changed = True
        self._wake.set()

    def follow_journal(self, add_listener: Callable[[Callable[[JournalOp], None]], None]) -> None:
        """Count today's calls from the journal (`Recorder.add_listener`) as the router
        queues its records, instead of reading the day again every `figures_every_s`."""
        add_listener(self._on_journal)
        self._journal_fed = True

    def _on_journal(self, op: JournalOp) -> None:
        day = self._day
        changed = False
        if isinstance(op, NewCall):
            row = op.row
            day.started(row.id, row.started_at, row.line)
            if row.outcome is not None:
                fields = {"answered_at": row.answered_at, "outcome": str(row.outcome)}
                changed = day.updated(row.id, fields)
        elif isinstance(op, CallUpdate):
            changed = day.updated(op.call_id, op.fields)
        elif isinstance(op, CallEvent) and op.kind == "waiting":
            waited_for = op.data.get("for")
            if isinstance(waited_for, str):
                day.waited(op.call_id, op.at, waited_for)
        if changed or day.stale:
            self._touch()

    @asynccontextmanager
    async def watch(self, whole_numbers: bool) -> AsyncIterator[asyncio.Queue[Frame | None]]:
        """A queue receiving every new snapshot (only the latest if the page is slow),
        starting with the current one; None once the server is stopping."""
        queue: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=1)
        queue.put_nowait(await self.current(whole_numbers))
        self._watchers[whole_numbers].add(queue)
        self._wake.set()
        try:
            yield queue
        finally:
            self._watchers[whole_numbers].discard(queue)

    async def current(self, whole_numbers: bool) -> Frame:
        await self._refresh_figures()
        frame = self._last.get(whole_numbers)
        calls = self._source.calls_by_operator()
        board = self._build(whole_numbers, calls)
        if frame is None or frame.board != board:
            self._generation += 1
            frame = self._last[whole_numbers] = Frame(self._generation, board, calls)
        return frame

    async def masked_board(self) -> Wallboard:
        """The current board with callers' numbers masked (`GET /api/wallboard`)."""
        return (await self.current(False)).board

    def rendered(
        self, frame: Frame, whole_numbers: bool, render: Callable[[Wallboard], str]
    ) -> str:
        """`render(frame.board)`, done once per snapshot and kind of viewer."""
        cached = self._rendered.get(whole_numbers)
        if cached is not None and cached[0] == frame.generation:
            return cached[1]
        html = render(frame.board)
        self._rendered[whole_numbers] = (frame.generation, html)
        return html

    async def run(self) -> None:
        """Until cancelled: a snapshot after every change while someone watches."""
        while True:
            try:
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if not self.watchers:
                continue
            await self._refresh_figures()
            if self._changed:
                self._changed = False
                calls = self._source.calls_by_operator()
                for whole, queues in self._watchers.items():
                    if queues:
                        self._publish(whole, queues, calls)
            await asyncio.sleep(self._min_gap_s)  # a burst of changes makes one snapshot

    def close(self) -> None:
        """The server is stopping: every open stream is told to end (else each would
        hold the shutdown until its next frame)."""
        for queues in self._watchers.values():
            for queue in queues:
                _replace(queue, None)

    def _publish(
        self,
        whole: bool,
        queues: set[asyncio.Queue[Frame | None]],
        calls: Mapping[str, LiveCall],
    ) -> None:
        board = self._build(whole, calls)
        last = self._last.get(whole)
        if last is not None and last.board == board:
            return
        self._generation += 1
        frame = self._last[whole] = Frame(self._generation, board, calls)
        for queue in queues:
            _replace(queue, frame)

    def _build(self, whole: bool, calls: Mapping[str, LiveCall]) -> Wallboard:
        callbacks = self._callbacks
        return summarise(
            self._source.operators(calls),
            self._source.waiting(),
            self._day.counts,
            callbacks.total,
            whole_numbers=whole,
            sl_target_s=self._sl_target_s,
            sl_targets=self._sl_targets(),
            queue_callbacks=callbacks.by_queue,
        )

    def _due(self, at: float | None) -> bool:
        return at is None or self._clock() - at >= self._figures_every_s

    async def _refresh_figures(self) -> None:
        """Callback counts every `figures_every_s`; the day's calls from the store when
        the day turned, when a call ended unseen (at most that often), or, with no journal
        to follow, as often as the callbacks."""
        midnight = self._reads.midnight()
        if midnight != self._day.midnight:
            self._day.new_day(midnight)
            self._day_read_at = None
        reread = self._day.stale or not self._journal_fed
        try:
            if reread and self._due(self._day_read_at):
                self._day_read_at = self._clock()
                stored = await self._reads.calls(midnight)
                self._day.rebuilt(stored, keep_finished=self._journal_fed)
                self._changed = True
            if self._due(self._figures_at):
                self._figures_at = self._clock()
                self._callbacks = await self._reads.callbacks()
                self._changed = True  # and a look at everything, in case a change woke nobody
        except (OSError, SQLAlchemyError) as exc:
            # The live part of the board goes on; the day's counts wait for the database.
            log.warning("wallboard: cannot read today's figures: %s", type(exc).__name__)


def _replace(queue: asyncio.Queue[Frame | None], item: Frame | None) -> None:
    if queue.full():
        queue.get_nowait()  # the page has not taken the last one: only the newest counts
    queue.put_nowait(item)
