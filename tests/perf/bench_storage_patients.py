"""Measure (not a test): importing 100k patients, and what calls feel meanwhile.

    .venv/bin/python tests/perf/bench_storage_patients.py [URL] [--patients N]

URL defaults to a fresh SQLite file in a temp folder. Reports the import rate (fresh and
re-import), lookup latency by phone, and the latency of a call's journey writes made
while the import runs (the import commits in batches so that these stay short).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from router.storage import CallRow, PatientRecord, Store
from router.storage.migrate import migrate


def patients(n: int) -> list[PatientRecord]:
    # Every tenth patient shares its mobile with the previous one (a family line).
    out = []
    for i in range(n):
        mobile = f"+7916{(i - (i % 10 == 9)):07d}"
        out.append(
            PatientRecord(
                id=f"P{i:07d}",
                name=f"Пациент {i}",
                phones=(mobile, f"+7495{i:07d}") if i % 3 == 0 else (mobile,),
                assigned_operator_id=f"op{i % 24}" if i % 4 == 0 else None,
                team="adults",
                tags=("dms",) if i % 5 == 0 else (),
                language="ru",
            )
        )
    return out


def ms(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def journey_writer(store: Store, stop: asyncio.Event, latencies: list[float]) -> None:
    await store.calls.create(  # idempotent: the second writer finds the call there
        CallRow(id="bench", app="bench", caller_raw="x", did="1", started_at=datetime.now(UTC))
    )
    while not stop.is_set():
        began = time.perf_counter()
        await store.calls.append_event("bench", "tick", {"n": len(latencies)}, datetime.now(UTC))
        latencies.append(time.perf_counter() - began)
        await asyncio.sleep(0.01)


async def run(url: str, n: int) -> None:
    await migrate(url)
    store = await Store.open(url)
    try:
        records = patients(n)
        idle: list[float] = []
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(journey_writer(store, stop, idle))
            await asyncio.sleep(1.0)
            stop.set()
        print(
            f"journey writes, nothing else running: p50 {ms(idle, 0.5):.1f} ms, "
            f"p99 {ms(idle, 0.99):.1f} ms"
        )
        for label in ("fresh import", "re-import (all updates)"):
            stop, latencies = asyncio.Event(), list[float]()
            async with asyncio.TaskGroup() as group:
                group.create_task(journey_writer(store, stop, latencies))
                began = time.perf_counter()
                await store.patients.upsert(records)
                took = time.perf_counter() - began
                stop.set()
            print(
                f"{label}: {n} patients in {took:.2f} s ({n / took:,.0f}/s); journey writes "
                f"meanwhile: {len(latencies)}, p50 {ms(latencies, 0.5):.1f} ms, "
                f"p99 {ms(latencies, 0.99):.1f} ms, max {max(latencies) * 1000:.1f} ms"
            )
        lookups = []
        for i in range(0, n, max(1, n // 2000)):
            began = time.perf_counter()
            found = await store.patients.find_by_phone(f"+7916{i:07d}")
            lookups.append(time.perf_counter() - began)
            assert found, i
        print(
            f"find_by_phone: {len(lookups)} lookups, p50 {ms(lookups, 0.5):.2f} ms, "
            f"p99 {ms(lookups, 0.99):.2f} ms, mean {statistics.mean(lookups) * 1000:.2f} ms"
        )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--patients", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        print(f"database: {url.split('@')[-1]}")
        asyncio.run(run(url, args.patients))


if __name__ == "__main__":
    main()
