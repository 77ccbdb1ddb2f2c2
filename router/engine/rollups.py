"""The running router's interval rollups (`router/storage/report_rollup_sql.py`): the
intervals settled since the last pass are built every minute, and once an hour every
interval of the history not built (the first pass, after a start, builds what the
router never built, e.g. the history before an upgrade; a late write unmarks an
interval of any age). `clinic-router report rollup` does the same by hand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from router.storage.report_rollup_sql import Rollups

log = logging.getLogger(__name__)

FIRST_S = 600.0  # after a start: not amid the reconnect's reconcile and the first calls
EVERY_S = 60.0
RECENT = timedelta(days=1)  # what a minute's pass looks at
FULL_EVERY = 60  # passes: the whole history once an hour


async def rollup_every(
    rollups: Rollups,
    now: Callable[[], datetime],
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
            built = 0 if start is None else await rollups.build(start, at, at)
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the rollups
            log.error("report rollups: building failed: %s: %s", type(exc).__name__, exc)
        else:
            if built:
                log.info("report rollups: %d intervals built", built)
        passes += 1
        await asyncio.sleep(every_s)


__all__ = ["rollup_every"]
