"""Measure (not a test): the reports over a year of a busy clinic.

    .venv/bin/python tests/perf/bench_reports.py [--calls N] [--backend sqlite|postgresql|both]
        [--rows]

Generates `--calls` calls spread over 365 days (clinic hours, a Monday-morning peak), with
their journeys' `waiting` events, ring attempts (one or two per call), misses and callback
tasks, and two operator state changes a call; then times the report (grouped by hour) for
a day, a week, a month and the whole year as the API builds it, the calls and rings summed
by the database (`store.reports.report`); with `--rows`, also the old way: every row read
(`store.reports.period`) and the figures built in Python (`build_report`), and the
staffing view for a month. PostgreSQL: `--pg URL` (default `CLINIC_ROUTER_TEST_PG`, else
postgresql+asyncpg://postgres@127.0.0.1:5432/test); a database of its own is created and
dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, make_url, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from router.domain.operators import Operator
from router.domain.reports import build_report
from router.domain.reports.staffing import staffing
from router.storage import Store
from router.storage.migrate import migrate
from router.storage.tables import (
    call_events,
    callback_tasks,
    calls,
    misses,
    operator_states,
    ring_attempts,
)

MSK = ZoneInfo("Europe/Moscow")
YEAR_START = datetime(2025, 12, 1, tzinfo=MSK)
OPERATORS = [f"op{n:03d}" for n in range(1, 25)]
BATCH = 20_000


def _rows(n: int, seed: int) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Batches of rows for every table, `BATCH` calls at a time, in time order."""
    rnd = random.Random(seed)
    step = 365 * 12 * 3600 / n  # the calls spread over 12 open hours a day
    task_id = 0
    out: dict[str, list[dict[str, Any]]] = _empty()
    for i in range(n):
        open_s = i * step
        day, in_day = divmod(open_s, 12 * 3600)
        start = (YEAR_START + timedelta(days=day, hours=8, seconds=in_day)).astimezone(UTC)
        cid = f"c{i:08d}"
        known = rnd.random() < 0.6
        wait_at = start + timedelta(seconds=rnd.uniform(2, 40) if not known else 1)
        fate = rnd.random()
        op = rnd.choice(OPERATORS)
        row: dict[str, Any] = {
            "id": cid, "app": "clinic-router", "caller_raw": "+7916", "did": "74950000000",
            "line": rnd.choice(("moscow", "spb", "ryazan")), "started_at": start,
            "patient_id": f"p{i}" if known else None, "tried_operators": [op],
            "phase": "ended", "caller_e164": f"+7916{i:07d}", "answered_at": None,
            "operator_id": None,
        }  # fmt: skip
        out["events"].append({"call_id": cid, "at": wait_at, "kind": "waiting",
                              "data": {"for": "queue general", "max_wait_s": 120}})  # fmt: skip
        ring_at = wait_at + timedelta(seconds=rnd.expovariate(1 / 15))
        if fate < 0.8:  # answered, maybe after one operator let it ring out
            if rnd.random() < 0.15:
                out["rings"].append(_ring(cid, rnd.choice(OPERATORS), ring_at, "no_answer", 20))
                ring_at += timedelta(seconds=20)
            answered = ring_at + timedelta(seconds=rnd.uniform(1, 6))
            out["rings"].append(_ring(cid, op, ring_at, "answered", (answered - ring_at).seconds))
            end = answered + timedelta(seconds=rnd.expovariate(1 / 180))
            row.update(answered_at=answered, ended_at=end, outcome="answered", operator_id=op)
            for state, at in (("on_call", answered), ("wrap_up", end)):
                out["states"].append({"operator_id": op, "state": state, "reason": None, "at": at})
        else:  # gave up; a miss, a task for most
            end = ring_at + timedelta(seconds=rnd.uniform(0, 5))
            out["rings"].append(_ring(cid, op, ring_at, "cancelled", (end - ring_at).seconds))
            row.update(ended_at=end, outcome="abandoned")
            task_id += 1
            out["misses"].append({"call_id": cid, "line": row["line"],
                "number_e164": row["caller_e164"], "reason": "abandoned",
                "waited_s": (end - wait_at).total_seconds(), "missed_at": end, "task_id": task_id,
                "anonymous": False})  # fmt: skip
            closed = end + timedelta(minutes=rnd.uniform(5, 90))
            out["tasks"].append({"id": task_id, "number_e164": row["caller_e164"],
                "line": row["line"], "state": "closed", "reasons": ["abandoned"], "miss_count": 1,
                "first_missed_at": end, "last_missed_at": end, "due_at": end, "attempts": 1,
                "first_attempt_at": closed - timedelta(minutes=2), "closed_at": closed,
                "close_reason": "connected", "attempt_operator_id": op, "created_at": end,
                "keep_place": False, "priority": 0})  # fmt: skip
        out["calls"].append(row)
        if len(out["calls"]) == BATCH:
            yield out
            out = _empty()
    if out["calls"]:
        yield out


def _ring(cid: str, op: str, at: datetime, result: str, secs: int) -> dict[str, Any]:
    return {"call_id": cid, "operator_id": op, "channel_id": None, "started_at": at,
            "ended_at": at + timedelta(seconds=secs), "result": result,
            "duration_ms": secs * 1000}  # fmt: skip


def _empty() -> dict[str, list[dict[str, Any]]]:
    return {"calls": [], "events": [], "rings": [], "misses": [], "tasks": [], "states": []}


TABLES = {"calls": calls, "events": call_events, "rings": ring_attempts, "tasks": callback_tasks,
          "misses": misses, "states": operator_states}  # fmt: skip


async def _fill(store: Store, n: int) -> float:
    began = time.perf_counter()
    await store.operators.sync([Operator(op, op, f"PJSIP/{op}") for op in OPERATORS])
    done = 0
    for batch in _rows(n, seed=16):
        async with store.db.begin() as conn:
            for name, table in TABLES.items():
                if batch[name]:
                    await conn.execute(insert(table), batch[name])
        done += len(batch["calls"])
        if done % 200_000 == 0:
            print(f"  {done:,} calls written ({time.perf_counter() - began:.0f} s)", flush=True)
    if store.db.dialect_name == "postgresql":
        async with store.db.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return time.perf_counter() - began


async def _measure(store: Store, label: str, rows: bool) -> None:
    now = YEAR_START + timedelta(days=365)
    monday = YEAR_START + timedelta(days=(7 - YEAR_START.weekday()) % 7 + 182)
    periods = {
        "day": (monday, monday + timedelta(days=1)),
        "week": (monday, monday + timedelta(days=7)),
        "month": (monday, monday + timedelta(days=30)),
        "year": (YEAR_START, now),
    }
    print(f"{label}: period   calls   summed by the database   peak RSS")
    for name, period in periods.items():
        t0 = time.perf_counter()
        report = await store.reports.report(period, now, MSK, group="hour")
        t1 = time.perf_counter()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{label}: {name:<6} {report.total.offered:>9,} {t1 - t0:>9.2f} s"
              f" {rss:>7.0f} MB", flush=True)  # fmt: skip
    if not rows:
        return
    print(f"{label}: period   calls   read rows   figures   total   peak RSS (--rows)")
    for name, period in periods.items():
        t0 = time.perf_counter()
        data = await store.reports.period(*period)
        t1 = time.perf_counter()
        build_report(data, period, now, MSK, group="hour")
        t2 = time.perf_counter()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{label}: {name:<6} {len(data.calls):>9,} {t1 - t0:>9.2f} s {t2 - t1:>7.2f} s"
              f" {t2 - t0:>6.2f} s {rss:>7.0f} MB", flush=True)  # fmt: skip
        if name == "month":
            t3 = time.perf_counter()
            staffing(data.calls, period, MSK, spans=data.spans)
            print(f"{label}: staffing (month, 168 hours, Erlang C and A): "
                  f"{time.perf_counter() - t3:.2f} s", flush=True)  # fmt: skip


async def _run_sqlite(n: int, rows: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await migrate(url)
        store = await Store.open(url)
        try:
            print(f"sqlite: generated in {await _fill(store, n):.0f} s; file "
                  f"{(Path(tmp) / 'bench.db').stat().st_size / 2**20:.0f} MiB")  # fmt: skip
            await _measure(store, "sqlite", rows)
        finally:
            await store.close()


async def _run_postgresql(n: int, server: str, rows: bool) -> None:
    admin_url = make_url(server)
    name = f"clinic_router_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        await migrate(url)
        store = await Store.open(url)
        try:
            print(f"postgresql: generated in {await _fill(store, n):.0f} s")
            await _measure(store, "postgresql", rows)
        finally:
            await store.close()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--pg",
        default=os.environ.get("CLINIC_ROUTER_TEST_PG")
        or "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--rows", action="store_true", help="also time reading the rows + the pure figures"
    )
    args = parser.parse_args()
    print(f"{args.calls:,} calls over 365 days")
    if args.backend in ("sqlite", "both"):
        asyncio.run(_run_sqlite(args.calls, args.rows))
    if args.backend in ("postgresql", "both"):
        asyncio.run(_run_postgresql(args.calls, args.pg, args.rows))


if __name__ == "__main__":
    main()
