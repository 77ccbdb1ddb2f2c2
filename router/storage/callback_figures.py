"""Supervisors' figures over the callback ledger (`GET /api/callbacks/summary`)."""

from __future__ import annotations

import statistics
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.callback_schedule import CloseReason
from router.storage.models import CallbackSummary
from router.storage.tables import ACTIVE_TASK, callback_tasks, misses

_tasks = callback_tasks.c


async def summarise(
    conn: AsyncConnection, now: datetime, since: datetime | None
) -> CallbackSummary:
    """The backlog at `now`, and what happened to misses and tasks since `since`.

    The median is taken here rather than in SQL: SQLite has no percentile function, and
    a period's connected callbacks are a few thousand rows at most.
    """
    open_count, oldest = (
        await conn.execute(
            select(func.count(), func.min(_tasks.first_missed_at)).where(text(ACTIVE_TASK))
        )
    ).one()
    missed_in = _since(misses.c.missed_at, since)
    miss_count, anonymous = (
        await conn.execute(
            select(
                func.count(),
                func.count().filter(misses.c.anonymous.is_(true())),
            ).where(missed_in)
        )
    ).one()
    closed_in = _since(_tasks.closed_at, since)
    by_reason = {
        reason: count
        for reason, count in (
            await conn.execute(
                select(_tasks.close_reason, func.count())
                .where(_tasks.closed_at.is_not(None), closed_in)
                .group_by(_tasks.close_reason)
            )
        ).all()
    }
    connected = (
        await conn.execute(
            select(_tasks.first_missed_at, _tasks.closed_at).where(
                _tasks.close_reason == CloseReason.CONNECTED.value, closed_in
            )
        )
    ).all()
    closed = sum(by_reason.values())
    waits = [(closed_at - first).total_seconds() for first, closed_at in connected]
    return CallbackSummary(
        since=since,
        open_tasks=open_count,
        oldest_open_age_s=None if oldest is None else (now - oldest).total_seconds(),
        misses=miss_count,
        lost_anonymous=anonymous,
        closed=closed,
        closed_by_reason=dict(sorted(by_reason.items())),
        median_time_to_callback_s=statistics.median(waits) if waits else None,
        share_closed_connected=len(waits) / closed if closed else None,
    )


def _since(column: ColumnElement[datetime], since: datetime | None) -> ColumnElement[bool]:
    return true() if since is None else column >= since
