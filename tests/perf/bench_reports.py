"""Measure (not a test): the reports over a year of a busy clinic.

    .venv/bin/python tests/perf/bench_reports.py [--calls N] [--backend sqlite|postgresql|both]
        [--rows] [--no-cache] [--keep-pg]

Generates `--calls` calls spread over 365 days (clinic hours), with their journeys'
`waiting` events, ring attempts (one or two per call), misses and callback tasks, and two
operator state changes a call (`year_data.py`: bulk-written through the raw driver into
the migrations' schema, its indexes built afterwards from the migrations' definitions);
then times the report (grouped by hour) for a day, a week, a month and the whole year as
the API builds it (`store.reports.report`): first with no interval rollups (every call
summed raw), then after building the year's rollups from scratch (timed, as is the
build of one interval unmarked), from the rollups; with `--rows`, also the old way: every row
read (`store.reports.period`) and the figures built in Python (`build_report`), and the
staffing view for a month. Each figure is measured in a fresh process, so its peak memory
is its own.

The SQLite database is kept under `.cache/bench_reports/`, keyed by the calls, the seed,
the migrations' head and the generator's version: a rerun skips the generation
(`--no-cache`: a temporary file). PostgreSQL: `--pg URL` (default `CLINIC_ROUTER_TEST_PG`,
else postgresql+asyncpg://postgres@127.0.0.1:5432/test); a database of its own, dropped
afterwards unless `--keep-pg` (then a rerun with `--keep-pg` reuses it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, make_url, pool, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from router.domain.operators import Operator
from router.domain.reports import build_report
from router.domain.reports.staffing import staffing
from router.storage import Store
from router.storage.migrate import head_revision, migrate
from router.storage.report_rollup_sql import Rollups, mark_stale
from router.storage.tables import (
    calls,
    report_call_days,
    report_call_hours,
    report_intervals,
    report_operator_days,
    report_operator_intervals,
    report_rollups,
    report_state_days,
    report_state_intervals,
)
from tests.perf import year_data
from tests.perf.year_data import MSK, OPERATORS, YEAR_START

ROOT = Path(__file__).resolve().parents[2]
SEED = 16
PERIODS = ("day", "week", "month", "year")
ROLLUP_ROWS = (
    report_intervals,
    report_operator_intervals,
    report_state_intervals,
    report_state_days,
    report_call_hours,
    report_call_days,
    report_operator_days,
)
_URL_ENV = "BENCH_REPORTS_URL"  # how a measuring child gets the URL (not on its command line)


def _periods() -> dict[str, tuple[datetime, datetime]]:
    monday = YEAR_START + timedelta(days=(7 - YEAR_START.weekday()) % 7 + 182)
    return {
        "day": (monday, monday + timedelta(days=1)),
        "week": (monday, monday + timedelta(days=7)),
        "month": (monday, monday + timedelta(days=30)),
        "year": (YEAR_START, YEAR_START + timedelta(days=365)),
    }


def _key(calls: int, seed: int) -> str:
    return f"{calls}_{seed}_{head_revision()}_g{year_data.GENERATOR_VERSION}"


def _progress(began: float, n: int) -> Callable[[int], None]:
    def report(done: int) -> None:
        if done % 200_000 == 0 or done == n:
            print(f"  {done:,} calls written ({time.perf_counter() - began:.0f} s)", flush=True)

    return report


async def _sync_operators(url: str) -> None:
    store = await Store.open(url)
    try:
        await store.operators.sync([Operator(op, op, f"PJSIP/{op}") for op in OPERATORS])
    finally:
        await store.close()


# --- one measurement, in a child process ----------------------------------------------


async def _child(way: str, name: str) -> dict[str, Any]:
    store = await Store.open(os.environ[_URL_ENV])
    try:
        if way in ("clear", "build"):
            return await _rollups(store, way)
        period, now = _periods()[name], YEAR_START + timedelta(days=365)
        server_before = await _server_cpu(store)
        base = _reset_peak()
        t0, cpu0 = time.perf_counter(), time.process_time()
        out: dict[str, Any] = {"base_mb": base}
        if way in ("new", "rolled"):
            report = await store.reports.report(period, now, MSK, group="hour")
            out.update(calls=report.total.offered, total_s=time.perf_counter() - t0)
        else:
            data = await store.reports.period(*period)
            t1 = time.perf_counter()
            build_report(data, period, now, MSK, group="hour")
            t2 = time.perf_counter()
            out.update(calls=len(data.calls), read_s=t1 - t0, build_s=t2 - t1, total_s=t2 - t0)
        out.update(cpu_s=time.process_time() - cpu0, peak_mb=_peak())
        server_after = await _server_cpu(store)
        out["server_cpu_s"] = sum(
            cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items()
        )
        if way == "old" and name == "month":
            t3 = time.perf_counter()
            staffing(data.calls, period, MSK, spans=data.spans)
            out["staffing_s"] = time.perf_counter() - t3
        return out
    finally:
        await store.close()


async def _server_cpu(store: Store) -> dict[int, float]:
    """PostgreSQL: the CPU seconds used so far by each server process serving this
    database (the server runs on this machine); SQLite: nothing (it runs in-process)."""
    if store.db.dialect_name != "postgresql":
        return {}
    async with store.db.connect() as conn:
        pids = (
            await conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
        ).scalars()
        return {pid: _proc_cpu(pid) for pid in pids}


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _rollups(store: Store, way: str) -> dict[str, Any]:
    """ "clear": no rollups (the raw sums); "build": the year's rollups from scratch, then
    one interval again after unmarking it (as a late write does)."""
    tables = (report_rollups, *ROLLUP_ROWS)
    if way == "clear":
        async with store.db.begin() as conn:
            for table in tables:
                await conn.execute(delete(table))
        return {}
    rollups, (start, end) = Rollups(store.db), _periods()["year"]
    now = datetime.now(UTC)
    server_before = await _server_cpu(store)
    t0, cpu0 = time.perf_counter(), time.process_time()
    built = await rollups.build(start, end, now, rebuild=True)
    out: dict[str, Any] = {"built": built, "year_s": time.perf_counter() - t0}
    out["year_cpu_s"] = time.process_time() - cpu0
    server_after = await _server_cpu(store)
    out["year_server_s"] = sum(c - server_before.get(p, 0.0) for p, c in server_after.items())
    one = _periods()["day"][0] + timedelta(hours=11)  # a busy interval
    async with store.db.connect() as conn:
        calls_of = select(calls.c.id).where(calls.c.started_at >= one).limit(1)
        call_id = (await conn.execute(calls_of)).scalar_one()
    async with store.db.begin() as conn:
        await mark_stale(conn, store.db.dialect_name, [call_id])
    t1 = time.perf_counter()
    out["one"] = await rollups.build(start, end, now)
    out["one_s"] = time.perf_counter() - t1
    async with store.db.connect() as conn:
        for table in tables[1:]:
            count = select(func.count()).select_from(table)
            out[table.name] = (await conn.execute(count)).scalar_one()
    return out


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise LookupError(field)


def _reset_peak() -> float:
    """The resident size now, after resetting the peak to it (Linux: clear_refs 5), so
    the peak read after the query is the query's own, not the imports'."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def _peak() -> float:
    return _status_mb("VmHWM")


def _measure_one(url: str, way: str, name: str) -> dict[str, Any]:
    load = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, __file__, "--child", way, name],
        env={**os.environ, _URL_ENV: url},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{way} {name}: child failed\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = load
    return result


def _measure(url: str, label: str, rows: bool) -> None:
    ways = ("new", "old") if rows else ("new",)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    _measure_one(url, "clear", "")
    for name in PERIODS:
        for way in ways:
            r = results[way, name] = _measure_one(url, way, name)
            what = {"new": "summed by the database", "old": "rows + figures"}[way]
            split = f" ({r['read_s']:.2f} + {r['build_s']:.2f})" if way == "old" else ""
            cpu = f"CPU {r['cpu_s']:.1f} s" + (
                f" + server {r['server_cpu_s']:.1f} s" if label == "postgresql" else ""
            )
            print(f"{label}: {name:<5} {what:<22} {r['calls']:>9,} calls {r['total_s']:>8.2f} s"
                  f"{split}, {cpu}, peak RSS {r['peak_mb']:.0f} MB"
                  f" ({r['base_mb']:.0f} before the query), load {r['load']:.1f}",
                  flush=True)  # fmt: skip
            if "staffing_s" in r:
                print(f"{label}: staffing (month, 168 hours, Erlang C and A): "
                      f"{r['staffing_s']:.2f} s", flush=True)  # fmt: skip
    b = _measure_one(url, "build", "")
    counts = ", ".join(f"{b[t.name]:,} {t.name}" for t in ROLLUP_ROWS)
    print(f"{label}: rollups of the year from scratch: {b['built']:,} intervals ({counts}),"
          f" {b['year_s']:.1f} s, CPU {b['year_cpu_s']:.1f} s + server"
          f" {b['year_server_s']:.1f} s; one interval again: {b['one_s']:.2f} s"
          f" ({b['one']} built), load {b['load']:.1f}", flush=True)  # fmt: skip
    for name in PERIODS:
        r = results["rolled", name] = _measure_one(url, "rolled", name)
        cpu = f"CPU {r['cpu_s']:.1f} s" + (
            f" + server {r['server_cpu_s']:.1f} s" if label == "postgresql" else ""
        )
        new = results["new", name]
        print(f"{label}: {name:<5} {'from the rollups':<22} {r['calls']:>9,} calls"
              f" {r['total_s']:>8.2f} s, {cpu}, peak RSS {r['peak_mb']:.0f} MB, load"
              f" {r['load']:.1f}; raw {new['total_s']:.2f} s: {r['total_s'] / new['total_s']:.3f}",
              flush=True)  # fmt: skip
    if rows:
        print(f"{label}: period   new s   old s new/old  new CPU  old CPU new/old  new MB  old MB")
        for name in PERIODS:
            new, old = results["new", name], results["old", name]
            cpu_new, cpu_old = (r["cpu_s"] + r["server_cpu_s"] for r in (new, old))
            print(f"{label}: {name:<6} {new['total_s']:>7.2f} {old['total_s']:>7.2f}"
                  f" {new['total_s'] / old['total_s']:>7.2f} {cpu_new:>8.1f} {cpu_old:>8.1f}"
                  f" {cpu_new / max(cpu_old, 0.01):>7.2f} {new['peak_mb']:>7.0f}"
                  f" {old['peak_mb']:>7.0f}")  # fmt: skip


# --- the backends ----------------------------------------------------------------------


async def _generate_sqlite(path: Path, n: int, seed: int) -> float:
    began = time.perf_counter()
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    await _sync_operators(url)
    await asyncio.to_thread(year_data.load_sqlite, str(path), n, seed, _progress(began, n))
    return time.perf_counter() - began


def _run_sqlite(n: int, seed: int, rows: bool, cache: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if cache is None:
            path = Path(tmp) / "bench.db"
        else:
            cache.mkdir(parents=True, exist_ok=True)
            path = cache / f"year_{_key(n, seed)}.db"
        if path.exists():
            print(f"sqlite: reusing {path.name} (generated earlier)")
        else:
            part = path.with_name(path.name + ".part")
            part.unlink(missing_ok=True)
            took = asyncio.run(_generate_sqlite(part, n, seed))
            part.rename(path)
            print(f"sqlite: generated in {took:.0f} s (load {os.getloadavg()[0]:.1f})")
        print(f"sqlite: file {path.stat().st_size / 2**20:.0f} MiB")
        _measure(f"sqlite+aiosqlite:///{path}", "sqlite", rows)


async def _pg_database(admin: AsyncEngine, name: str, keep: bool) -> bool:
    """Whether the database `name` already holds a complete year (only kept ones do);
    otherwise it is created empty."""
    async with admin.connect() as conn:
        found = (
            await conn.execute(
                text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                    " WHERE datname = :name"
                ),
                {"name": name},
            )
        ).first()
        if found is not None and keep and found[0] == "complete":
            return True
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    return False


async def _generate_postgresql(url: str, n: int, seed: int) -> float:
    began = time.perf_counter()
    await migrate(url)
    await _sync_operators(url)
    await year_data.load_postgresql(url, n, seed, _progress(began, n))
    return time.perf_counter() - began


def _run_postgresql(n: int, seed: int, server: str, rows: bool, keep: bool) -> None:
    admin_url = make_url(server)
    name = f"clinic_router_bench_{_key(n, seed)}"

    async def admin_do(job: Callable[[AsyncEngine], Any]) -> Any:
        admin = create_async_engine(
            admin_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool
        )
        try:
            return await job(admin)
        finally:
            await admin.dispose()

    async def mark_complete(admin: AsyncEngine) -> None:
        async with admin.connect() as conn:
            await conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS 'complete'"))

    async def drop(admin: AsyncEngine) -> None:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        if asyncio.run(admin_do(lambda admin: _pg_database(admin, name, keep))):
            print(f"postgresql: reusing the database {name} (generated earlier)")
        else:
            took = asyncio.run(_generate_postgresql(url, n, seed))
            asyncio.run(admin_do(mark_complete))
            print(f"postgresql: generated in {took:.0f} s (load {os.getloadavg()[0]:.1f})")
        _measure(url, "postgresql", rows)
    finally:
        if not keep:
            asyncio.run(admin_do(drop))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(asyncio.run(_child(sys.argv[2], sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--pg",
        default=os.environ.get("CLINIC_ROUTER_TEST_PG")
        or "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--rows", action="store_true", help="also time reading the rows + the pure figures"
    )
    parser.add_argument("--no-cache", action="store_true", help="SQLite: a temporary file")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "bench_reports")
    parser.add_argument("--keep-pg", action="store_true", help="keep (and reuse) the database")
    args = parser.parse_args()
    year_data.check_formats()
    print(f"{args.calls:,} calls over 365 days; load average {os.getloadavg()[0]:.1f}")
    if args.backend in ("sqlite", "both"):
        _run_sqlite(args.calls, args.seed, args.rows, None if args.no_cache else args.cache_dir)
    if args.backend in ("postgresql", "both"):
        _run_postgresql(args.calls, args.seed, args.pg, args.rows, args.keep_pg)


if __name__ == "__main__":
    main()
