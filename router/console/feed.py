"""The wallboard's live feed: one snapshot built per change, shared by every open page.

Operator changes wake it at once (a board listener); the waiting room and the day's
figures are looked at every `interval_s` while someone watches. Nothing is built while
no page is open. Pages get each snapshot at most once, rendered once per kind of
viewer (numbers masked or whole), however many are open.
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

from router.console.live import LiveSource
from router.domain.wallboard import CallbackCounts, CallOfToday, Wallboard, summarise
from router.storage.console_figures import ConsoleFigures

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Today:
    """What the board reads from the store: the day's calls and the callback counts."""

    calls: list[CallOfToday] = field(default_factory=list)
    callbacks: CallbackCounts = field(default_factory=CallbackCounts)
    queue_callbacks: dict[str, CallbackCounts] = field(default_factory=dict)


TodayFigures = Callable[[], Awaitable[Today]]
NO_TARGETS: Callable[[], Mapping[str, float]] = dict


def today_figures(figures: ConsoleFigures, zone: ZoneInfo, overdue_s: float) -> TodayFigures:
    """The day's calls (since midnight in `zone`) and callback counts, from the store."""

    async def read() -> Today:
        now = datetime.now(zone)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return Today(
            await figures.calls_since(midnight),
            await figures.callbacks(now, overdue_s),
            await figures.callbacks_by_queue(now, overdue_s),
        )

    return read


@dataclass(frozen=True, slots=True)
class Frame:
    generation: int
    board: Wallboard


class WallboardFeed:
    def __init__(
        self,
        source: LiveSource,
        figures: TodayFigures,
        *,
        clock: Callable[[], float],
        interval_s: float = 0.25,
        min_gap_s: float = 0.05,
        figures_every_s: float = 5.0,
        sl_target_s: float = 20.0,
        sl_targets: Callable[[], Mapping[str, float]] = NO_TARGETS,
    ) -> None:
        self._source = source
        self._figures = figures
        self._clock = clock
        self._interval_s = interval_s
        self._min_gap_s = min_gap_s
        self._figures_every_s = figures_every_s
        self._sl_target_s = sl_target_s
        self._sl_targets = sl_targets  # per queue, from the rules in force
        self._wake = asyncio.Event()
        self._watchers: dict[bool, set[asyncio.Queue[Frame | None]]] = {False: set(), True: set()}
        self._last: dict[bool, Frame] = {}
        self._rendered: dict[bool, tuple[int, str]] = {}
        self._generation = 0
        self._today = Today()
        self._figures_at: float | None = None
        source.board.add_listener(lambda _status: self._wake.set())

    @property
    def source(self) -> LiveSource:
        return self._source

    @property
    def watchers(self) -> int:
        return sum(len(queues) for queues in self._watchers.values())

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
        if self._figures_due():
            await self._refresh_figures()
        frame = self._last.get(whole_numbers)
        board = self._build(whole_numbers)
        if frame is None or frame.board != board:
            self._generation += 1
            frame = self._last[whole_numbers] = Frame(self._generation, board)
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
            if self._figures_due():
                await self._refresh_figures()
            for whole, queues in self._watchers.items():
                if queues:
                    self._publish(whole, queues)
            await asyncio.sleep(self._min_gap_s)  # a burst of changes makes one snapshot

    def close(self) -> None:
        """The server is stopping: every open stream is told to end (else each would
        hold the shutdown until its next frame)."""
        for queues in self._watchers.values():
            for queue in queues:
                _replace(queue, None)

    def _publish(self, whole: bool, queues: set[asyncio.Queue[Frame | None]]) -> None:
        board = self._build(whole)
        last = self._last.get(whole)
        if last is not None and last.board == board:
            return
        self._generation += 1
        frame = self._last[whole] = Frame(self._generation, board)
        for queue in queues:
            _replace(queue, frame)

    def _build(self, whole: bool) -> Wallboard:
        today = self._today
        return summarise(
            self._source.operators(),
            self._source.waiting(),
            today.calls,
            today.callbacks,
            whole_numbers=whole,
            sl_target_s=self._sl_target_s,
            sl_targets=self._sl_targets(),
            queue_callbacks=today.queue_callbacks,
        )

    def _figures_due(self) -> bool:
        at = self._figures_at
        return at is None or self._clock() - at >= self._figures_every_s

    async def _refresh_figures(self) -> None:
        self._figures_at = self._clock()
        try:
            self._today = await self._figures()
        except (OSError, SQLAlchemyError) as exc:
            # The live part of the board goes on; the day's counts wait for the database.
            log.warning("wallboard: cannot read today's figures: %s", type(exc).__name__)


def _replace(queue: asyncio.Queue[Frame | None], item: Frame | None) -> None:
    if queue.full():
        queue.get_nowait()  # the page has not taken the last one: only the newest counts
    queue.put_nowait(item)
