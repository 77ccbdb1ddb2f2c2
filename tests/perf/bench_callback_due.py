"""Measure (not a test): what one callback dispatch tick reads with a large backlog.

    .venv/bin/python tests/perf/bench_callback_due.py [URL] [--tasks N] [--ticks K]

URL defaults to a fresh SQLite file in a temp folder (a PostgreSQL URL must name an empty,
migrated-or-migratable database). Seeds N due tasks (50,000 by default), then times the
dispatcher's scan (`DueScan`) as a tick sees it: the best case (the first page has what
the free operators may take: one query) and the worst (nobody free may take any task: the
tick's whole budget of pages), each K times, and how many ticks look at every task once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert, text

from router.engine.callbacks import due_scan
from router.engine.callbacks.due_scan import DueScan
from router.storage import Store
from router.storage.migrate import migrate
from router.storage.tables import callback_tasks

BATCH = 5_000


def rows(n: int, start: datetime) -> list[dict[str, object]]:
    """Open due tasks over a week, a tenth at a raised priority."""
    out: list[dict[str, object]] = []
    for i in range(n):
        at = start + timedelta(seconds=12 * i)
        out.append(
            {
                "number_e164": f"+7916{i:07d}",
                "line": "moscow",
                "state": "open",
                "reasons": ["abandoned"],
                "miss_count": 1 + (i % 10 == 0),
                "first_missed_at": at,
                "last_missed_at": at,
                "priority": int(i % 10 == 0),
                "due_at": at,
                "created_at": at,
                "target": {"line": "moscow", "queue": None, "skills": ["paid"], "min_level": 5},
            }
        )
    return out


async def seed(store: Store, n: int, start: datetime) -> float:
    began = time.perf_counter()
    all_rows = rows(n, start)
    for i in range(0, n, BATCH):
        async with store.db.begin() as conn:
            await conn.execute(insert(callback_tasks), all_rows[i : i + BATCH])
    async with store.db.begin() as conn:
        # As autovacuum would have by now on a live PostgreSQL: without statistics its
        # planner sorts every task (55 ms a page) instead of walking the index (0.2 ms).
        await conn.execute(text("ANALYZE"))
    return time.perf_counter() - began


async def timed(scan: DueScan, now: datetime, done: bool, ticks: int) -> list[float]:
    took = []
    for _ in range(ticks):
        began = time.perf_counter()
        await scan.scan(now, lambda page: done, lease_s=300)
        took.append(time.perf_counter() - began)
    return took


def line(name: str, took: list[float]) -> str:
    ms = sorted(t * 1000 for t in took)
    return f"{name}: median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms ({len(ms)} ticks)"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", nargs="?")
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--ticks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite+aiosqlite:///{Path(folder) / 'router.db'}"
        await migrate(url)
        store = await Store.open(url)
        try:
            start = datetime.now(UTC) - timedelta(days=8)
            print(f"{args.tasks} due tasks seeded in {await seed(store, args.tasks, start):.1f} s")
            now = datetime.now(UTC)
            scan = DueScan(store.callbacks)
            print(
                line(
                    "a tick that finds a task on the first page",
                    await timed(scan, now, True, args.ticks),
                )
            )
            print(
                line(
                    "a tick that finds none (whole budget)",
                    await timed(scan, now, False, args.ticks),
                )
            )
            per_tick = due_scan.PAGE * (due_scan.PAGES_PER_TICK - 1)
            laps = -(-(args.tasks - due_scan.PAGE) // per_tick)
            print(
                f"every task looked at within {laps} ticks"
                f" ({due_scan.PAGES_PER_TICK} pages of {due_scan.PAGE} a tick)"
            )
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
