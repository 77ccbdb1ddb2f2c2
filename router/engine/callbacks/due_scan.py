"""Which due callback tasks the dispatcher looks at on one tick, for any backlog size.

A task nobody free may take now (its pool's operators busy or away, a skill nobody free
has) must not hide one behind it that a free operator could take: with a backlog of
thousands such tasks, reading only the most urgent page would starve every task after
it. So a tick reads the due tasks page by page in dispatch order until every free
operator has a task or the list ends, and at most `PAGES_PER_TICK` pages: one tick stays
cheap however long the backlog. When that budget ends the list, the cursor keeps where
the tick stopped; the next tick reads the most urgent page again (the head is where a
newly freed operator's task most likely is) and then carries on from the cursor, so
every due task is looked at within a bounded number of ticks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from router.storage.callbacks import CallbacksRepo, DispatchKey, dispatch_key
from router.storage.models import CallbackTask

PAGE = 200  # due tasks read per query
PAGES_PER_TICK = 5  # at most this many queries (1,000 tasks) per tick

# Looks at one page of due tasks; True: nothing more to look for on this tick.
Pick = Callable[[list[CallbackTask]], bool]


class DueScan:
    """Pages through the due tasks for the dispatcher, with a cursor between ticks."""

    def __init__(self, repo: CallbacksRepo) -> None:
        self._repo = repo
        self._cursor: DispatchKey | None = None  # where the last tick's budget ran out

    @property
    def cursor(self) -> DispatchKey | None:
        return self._cursor

    async def scan(self, now: datetime, pick: Pick, *, lease_s: float) -> int:
        """Hands `pick` pages of due tasks in dispatch order until it says done, the list
        ends or the tick's budget is spent. Returns the number of pages read."""
        after: DispatchKey | None = None
        for page_no in range(1, PAGES_PER_TICK + 1):
            page = await self._repo.due(now, PAGE, lease_s=lease_s, after=after)
            done = pick(page)
            if len(page) < PAGE:
                self._cursor = None  # the whole list was seen: the next tick starts anew
                return page_no
            if done:
                return page_no  # the cursor stays: the tail is still owed a look
            after = dispatch_key(page[-1])
            if page_no == 1 and self._cursor is not None and self._cursor > after:
                after = self._cursor  # pages between were looked at by earlier ticks
        self._cursor = after
        return PAGES_PER_TICK


__all__ = ["PAGE", "PAGES_PER_TICK", "DueScan"]
