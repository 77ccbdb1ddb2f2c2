"""The running router's interval rollups (`router/storage/report_rollup_sql.py`): the
intervals settled since the last pass are built every minute, and once an hour every
interval of the history not built (the first pass, after a start, builds what the
router never built, e.g. the history before an upgrade; a late write unmarks an
interval of any age). `clinic-router report rollup` does the same by hand.

Neither builds an interval older than the calls' retention (`retention.calls_days`):
its calls may be pruned, and a build from the few rows left (calls kept for an open
task, or never ended) would overwrite the sums built while they were all there."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from router.config.retention_settings import RetentionSettings
from router.domain.reports.intervals import INTERVAL_S
from router.storage.report_rollup_sql import Rollups

log = logging.getLogger(__name__)

FIRST_S = 600.0  # after a start: not amid the reconnect's reconcile and the first calls
EVERY_S = 60.0
RECENT = timedelta(days=1)  # what a minute's pass looks at
FULL_EVERY = 60  # passes: the whole history once an hour


def kept_from(retention: RetentionSettings | None, now: datetime) -> datetime | None:
    """The first interval no retention pass can have pruned a call of: the calls'
    cutoff, rounded up to the 15-minute grid (the interval it falls in is part pruned).
    None: calls are kept for ever, every interval may be built."""
    days = None if retention is None else retention.calls_days
    if days is None:
        return None
    cutoff = (now - timedelta(days=days)).timestamp()
    return datetime.fromtimestamp(math.ceil(cutoff / INTERVAL_S) * INTERVAL_S, UTC)


def not_before(start: datetime, retention: RetentionSettings | None, now: datetime) -> datetime:
    """`start`, or the first interval `kept_from` allows if that is later."""
    floor = kept_from(retention, now)
    return start if floor is None else max(start, floor)


async def rollup_every(
    rollups: Rollups,
    now: Callable[[], datetime],
    retention: RetentionSettings | None = None,
    *,
    first_s: float = FIRST_S,
    every_s: float = EVERY_S,
) -> None:
    """Build settled intervals, `first_s` after start and every `every_s` then. A failed
    pass is logged and tried again at the next one (the reports read raw meanwhile)."""
    await asyncio.sleep(first_s)
    passes = 0
    while True:
        at = now()
        try:
            start = await rollups.first_call() if passes % FULL_EVERY == 0 else at - RECENT
            if start is not None:
                start = not_before(start, retention, at)
            built = 0 if start is None else await rollups.build(start, at, at)
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the rollups
            log.error("report rollups: building failed: %s: %s", type(exc).__name__, exc)
        else:
            if built:
                log.info("report rollups: %d intervals built", built)
        passes += 1
        await asyncio.sleep(every_s)


__all__ = ["kept_from", "not_before", "rollup_every"]
