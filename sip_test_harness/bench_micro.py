"""In-process micro-benchmarks of routing decisions: median and p99 per decision (µs).

* operator selection: 2,000 operators, 1,000 waiting calls, ``router.domain.selection``;
* caller lookup: ``find_by_phone`` in a 1,000,000-patient SQLite store, built once and
  cached under ``.cache/bench/`` (delete the folder to rebuild).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from router.domain.operators import Operator, OperatorStatus, Presence
from router.domain.selection import choose_operators
from router.storage import PatientRecord, Store
from router.storage.migrate import migrate
from sip_test_harness.router_process import REPO

CACHE = REPO / ".cache" / "bench"
PATIENTS = 1_000_000


@dataclass(frozen=True)
class Micro:
    """One micro-benchmark's figures."""

    name: str
    samples: int
    median_us: float
    p99_us: float
    note: str = ""


def _figures(name: str, seconds: list[float], note: str = "") -> Micro:
    data = sorted(seconds)
    p99 = data[min(len(data) - 1, int(0.99 * len(data)))]
    return Micro(
        name, len(data), round(statistics.median(data) * 1e6, 1), round(p99 * 1e6, 1), note
    )


def _timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def selection(operators: int = 2_000, waiting: int = 1_000) -> Micro:
    """One decision per waiting call: the candidates for that call, in order."""
    rng = random.Random(7)
    statuses = [
        OperatorStatus(
            Operator(f"op{n:05d}", f"Operator {n}", f"PJSIP/op{n:05d}", skills={"paid": 3}),
            presence=Presence.AVAILABLE if rng.random() < 0.6 else Presence.ON_CALL,
            idle_since=rng.random() * 3600,
        )
        for n in range(operators)
    ]
    calls = [
        (
            f"op{rng.randrange(operators):05d}",
            [f"op{rng.randrange(operators):05d}" for _ in range(3)],
        )
        for _ in range(waiting)
    ]
    seconds = []
    for assigned, tried in calls:
        began = time.perf_counter()
        choose_operators(statuses, assigned_id=assigned, exclude=tried)
        seconds.append(time.perf_counter() - began)
    return _figures(
        "operator selection", seconds, f"{operators} operators, {waiting} waiting calls"
    )


def _phone(n: int) -> str:
    return f"+7916{n:07d}"


async def _build_store(path: Path) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    store = await Store.open(url)
    try:
        for start in range(0, PATIENTS, 50_000):
            batch = [
                PatientRecord(
                    id=f"P{n:07d}",
                    name=f"Patient {n}",
                    phones=(_phone(n),),
                    assigned_operator_id=f"op{n % 200:03d}" if n % 4 == 0 else None,
                )
                for n in range(start, min(PATIENTS, start + 50_000))
            ]
            await store.patients.upsert(batch)
    finally:
        await store.close()


async def _lookups(path: Path, rounds: int) -> list[float]:
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    rng = random.Random(11)
    seconds = []
    try:
        for i in range(rounds):
            number = _phone(rng.randrange(PATIENTS)) if i % 2 else f"+7999{i:07d}"
            began = time.perf_counter()
            await store.patients.find_by_phone(number)
            seconds.append(time.perf_counter() - began)
    finally:
        await store.close()
    return seconds


def caller_lookup(rounds: int = 2_000, progress: Callable[[str], None] = print) -> Micro:
    """Half known, half unknown numbers, through the router's own repository."""
    path = CACHE / "patients-1m.db"
    done = CACHE / "patients-1m.done"
    if not done.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        progress(f"building the {PATIENTS:,}-patient store once ({path})...")
        began = time.monotonic()
        asyncio.run(_build_store(path))
        done.write_text(f"built in {time.monotonic() - began:.0f} s\n")
    seconds = asyncio.run(_lookups(path, rounds))
    return _figures("caller lookup", seconds, f"{PATIENTS:,} patients, SQLite, find_by_phone")


def run_all(progress: Callable[[str], None] = print) -> list[Micro]:
    """Every micro-benchmark (rule evaluation: not in router.domain yet)."""
    return [selection(), caller_lookup(progress=progress)]
