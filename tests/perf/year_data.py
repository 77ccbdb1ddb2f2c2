"""A year of a busy clinic, generated and bulk-loaded for `bench_reports.py`.

The rows are built as plain tuples with the timestamps already as text (naive UTC to the
microsecond, exactly what SQLAlchemy writes into SQLite; `check_formats` holds that
against SQLAlchemy's own bind processors), then written through the raw driver: SQLite
`executemany` in one transaction per batch, PostgreSQL `COPY` (asyncpg `copy_to_table`,
CSV). The schema is the migrations' own: `migrate()` creates it, the secondary indexes
(and, on PostgreSQL, the keys and foreign keys) are dropped for the load and created again
afterwards from the very definitions the migrations left in the catalogue, and
`recreate_*` checks that the catalogue then lists the same definitions as before.
"""

from __future__ import annotations

import csv
import io
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

MSK = ZoneInfo("Europe/Moscow")
YEAR_START = datetime(2025, 12, 1, tzinfo=MSK)
OPERATORS = [f"op{n:03d}" for n in range(1, 25)]
BATCH = 50_000  # calls per batch (one transaction each)
# Bump when the generated rows change: the cached databases are keyed by it.
GENERATOR_VERSION = 2

Row = tuple[Any, ...]
Batch = dict[str, list[Row]]

# The columns each table is written with, in the order of the tuples below.
COLUMNS: dict[str, tuple[str, ...]] = {
    "calls": ("id", "app", "caller_raw", "did", "line", "started_at", "patient_id",
              "tried_operators", "phase", "caller_e164", "answered_at", "operator_id",
              "ended_at", "outcome"),
    "call_events": ("call_id", "at", "kind", "data"),
    "ring_attempts": ("call_id", "operator_id", "started_at", "ended_at", "result",
                      "duration_ms"),
    "callback_tasks": ("id", "number_e164", "line", "state", "reasons", "miss_count",
                       "first_missed_at", "last_missed_at", "due_at", "attempts",
                       "first_attempt_at", "closed_at", "close_reason",
                       "attempt_operator_id", "created_at", "keep_place", "priority"),
    "misses": ("call_id", "line", "number_e164", "reason", "waited_s", "missed_at",
               "task_id", "anonymous"),
    "operator_states": ("operator_id", "state", "reason", "at"),
}  # fmt: skip
TABLES = tuple(COLUMNS)
# Timestamp columns, for `check_formats`.
_TIMES = {
    "calls": ("started_at", "answered_at", "ended_at"),
    "call_events": ("at",),
    "ring_attempts": ("started_at", "ended_at"),
    "callback_tasks": ("first_missed_at", "last_missed_at", "due_at", "first_attempt_at",
                       "closed_at", "created_at"),
    "misses": ("missed_at",),
    "operator_states": ("at",),
}  # fmt: skip

_S = 1_000_000  # microseconds
_DAY = 86_400 * _S
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BASE = (YEAR_START - _EPOCH) // timedelta(microseconds=1)  # the year's start, UTC
_FIRST_DAY = _BASE // _DAY - 1
_DATES = [
    (_EPOCH + timedelta(days=_FIRST_DAY + d)).strftime("%Y-%m-%d") for d in range(400)
]  # fmt: skip
_HM = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
_WAITING = '{"for": "queue general", "max_wait_s": 120}'
_REASONS = '["abandoned"]'


def ts(us: int) -> str:
    """Microseconds since the epoch as SQLAlchemy writes a UTC time into SQLite."""
    day, rest = divmod(us, _DAY)
    minute, sec = divmod(rest, 60 * _S)
    s = f"{sec:08d}"
    return f"{_DATES[day - _FIRST_DAY]} {_HM[minute]}:{s[:2]}.{s[2:]}"


def _us(seconds: float) -> int:
    return round(seconds * _S)  # as timedelta(seconds=...) rounds


def generate(n: int, seed: int) -> Iterator[Batch]:
    """`BATCH` calls at a time, in time order, with their rows in every table.

    The calls spread evenly over 12 open hours (Moscow 08:00-20:00) of 365 days; 60 %
    known callers; 80 % answered (15 % of those after an operator let it ring out), the
    rest abandoned while ringing: a miss and a callback task, closed connected.
    """
    rnd = random.Random(seed)
    rand, uniform, expo, choice = rnd.random, rnd.uniform, rnd.expovariate, rnd.choice
    step = 365 * 12 * 3600 / n
    lines = ("moscow", "spb", "ryazan")
    task_id = 0
    out = _empty()
    calls, events, rings = out["calls"], out["call_events"], out["ring_attempts"]
    tasks, misses, states = out["callback_tasks"], out["misses"], out["operator_states"]
    for i in range(n):
        day, in_day = divmod(i * step, 12 * 3600)
        start = _BASE + int(day) * _DAY + 8 * 3600 * _S + _us(in_day)
        cid = f"c{i:08d}"
        known = rand() < 0.6
        wait_at = start + (_us(uniform(2, 40)) if not known else _S)
        fate = rand()
        op = choice(OPERATORS)
        line = choice(lines)
        e164 = f"+7916{i:07d}"
        events.append((cid, ts(wait_at), "waiting", _WAITING))
        ring_at = wait_at + _us(expo(1 / 15))
        if fate < 0.8:  # answered, maybe after one operator let it ring out
            if rand() < 0.15:
                other = choice(OPERATORS)
                after = ring_at + 20 * _S
                rings.append((cid, other, ts(ring_at), ts(after), "no_answer", 20_000))
                ring_at = after
            answered = ring_at + _us(uniform(1, 6))
            secs = (answered - ring_at) // _S
            answered_ts, ring_ts = ts(answered), ts(ring_at)
            rings.append((cid, op, ring_ts, ts(ring_at + secs * _S), "answered", secs * 1000))
            end = answered + _us(expo(1 / 180))
            end_ts = ts(end)
            calls.append((cid, "clinic-router", "+7916", "74950000000", line, ts(start),
                          f"p{i}" if known else None, f'["{op}"]', "ended", e164,
                          answered_ts, op, end_ts, "answered"))  # fmt: skip
            states.append((op, "on_call", None, answered_ts))
            states.append((op, "wrap_up", None, end_ts))
        else:  # gave up; a miss, a task for most
            end = ring_at + _us(uniform(0, 5))
            secs = (end - ring_at) // _S
            ring_ts, end_ts = ts(ring_at), ts(end)
            rings.append((cid, op, ring_ts, ts(ring_at + secs * _S), "cancelled", secs * 1000))
            calls.append((cid, "clinic-router", "+7916", "74950000000", line, ts(start),
                          f"p{i}" if known else None, f'["{op}"]', "ended", e164,
                          None, None, end_ts, "abandoned"))  # fmt: skip
            task_id += 1
            misses.append((cid, line, e164, "abandoned", (end - wait_at) / _S, end_ts,
                           task_id, False))  # fmt: skip
            closed = end + _us(uniform(5, 90) * 60)
            tasks.append((task_id, e164, line, "closed", _REASONS, 1, end_ts, end_ts, end_ts,
                          1, ts(closed - 120 * _S), ts(closed), "connected", op, end_ts,
                          False, 0))  # fmt: skip
        if len(calls) == BATCH:
            yield out
            out = _empty()
            calls, events, rings = out["calls"], out["call_events"], out["ring_attempts"]
            tasks, misses = out["callback_tasks"], out["misses"]
            states = out["operator_states"]
    if calls:
        yield out


def _empty() -> Batch:
    return {name: [] for name in TABLES}


def check_formats() -> None:
    """Fail unless `ts` and the JSON texts are what SQLAlchemy itself writes to SQLite
    (the reports compare and parse that text, so a different spelling would be a
    different database)."""
    from sqlalchemy.dialects import sqlite

    from router.storage import tables

    dialect = sqlite.dialect()
    rnd = random.Random(0)
    at = tables.calls.c.started_at.type.dialect_impl(dialect).bind_processor(dialect)
    for us in [_BASE, _BASE + 1, _BASE + _DAY - 1] + [
        _BASE + rnd.randrange(370 * _DAY) for _ in range(1000)
    ]:
        when = _EPOCH + timedelta(microseconds=us)
        if at is None or at(when) != ts(us):
            raise AssertionError(f"timestamp text {ts(us)!r} is not SQLAlchemy's for {when}")
    for col, value, text in (
        (tables.call_events.c.data, {"for": "queue general", "max_wait_s": 120}, _WAITING),
        (tables.callback_tasks.c.reasons, ["abandoned"], _REASONS),
        (tables.calls.c.tried_operators, ["op001"], '["op001"]'),
    ):
        process = col.type.dialect_impl(dialect).bind_processor(dialect)
        if process is None or process(value) != text:
            raise AssertionError(f"{col}: {text!r} is not SQLAlchemy's JSON text")
    for name, cols in _TIMES.items():
        assert set(cols) <= set(COLUMNS[name]), name


# --- SQLite --------------------------------------------------------------------------


def load_sqlite(path: str, n: int, seed: int, progress: Any) -> None:
    """Write the year into the migrated SQLite file at `path` (operators already synced)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        # A scratch file of test data: nothing to protect against a crash mid-load.
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -262144")  # 256 MiB for the index builds
        indexes = _sqlite_indexes(con)
        for name, _sql in indexes:
            con.execute(f'DROP INDEX "{name}"')
        inserts = {
            t: f"INSERT INTO {t} ({', '.join(c)}) VALUES ({', '.join('?' * len(c))})"
            for t, c in COLUMNS.items()
        }
        done = 0
        for batch in generate(n, seed):
            con.execute("BEGIN")
            for table, rows in batch.items():
                con.executemany(inserts[table], rows)
            con.execute("COMMIT")
            done += len(batch["calls"])
            progress(done)
        for _name, sql in indexes:
            con.execute(sql)
        if _sqlite_indexes(con) != indexes:
            raise AssertionError("the indexes after the load differ from the migrations'")
        con.execute("PRAGMA journal_mode = WAL")  # what the router leaves in its files
    finally:
        con.close()


def _sqlite_indexes(con: sqlite3.Connection) -> list[tuple[str, str]]:
    """The indexes created by the migrations' CREATE INDEX (the constraints' own
    automatic indexes have no SQL and stay)."""
    marks = ", ".join("?" * len(TABLES))
    rows = con.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        f" AND tbl_name IN ({marks}) ORDER BY name",
        TABLES,
    ).fetchall()
    return [(str(name), str(sql)) for name, sql in rows]


# --- PostgreSQL ----------------------------------------------------------------------


async def load_postgresql(url: str, n: int, seed: int, progress: Any) -> None:
    """Write the year into the migrated PostgreSQL database `url` (operators synced)."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            await _load_postgresql(raw.driver_connection, n, seed, progress)
    finally:
        await engine.dispose()


async def _load_postgresql(con: Any, n: int, seed: int, progress: Any) -> None:
    """The load on asyncpg's own connection `con`."""
    await con.execute("SET TIME ZONE 'UTC'")  # the timestamps' text is UTC
    before = await _pg_schema(con)
    constraints, indexes = before
    for table, name, _def, _kind in sorted(constraints, key=lambda c: c[3] != "f"):
        await con.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _def in indexes:
        await con.execute(f'DROP INDEX "{name}"')
    done = 0
    for batch in generate(n, seed):
        async with con.transaction():
            for table, rows in batch.items():
                await con.copy_to_table(
                    table, source=_csv(rows), columns=COLUMNS[table], format="csv"
                )
        done += len(batch["calls"])
        progress(done)
    await con.execute("SET maintenance_work_mem = '256MB'")
    for table, name, definition, _kind in sorted(constraints, key=lambda c: c[3] == "f"):
        await con.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for _name, definition in indexes:
        await con.execute(definition)
    if await _pg_schema(con) != before:
        raise AssertionError("the keys and indexes after the load differ from the migrations'")
    await con.execute(
        "SELECT setval(pg_get_serial_sequence('callback_tasks', 'id'),"
        " (SELECT max(id) FROM callback_tasks))"
    )
    await con.execute("ANALYZE")  # what autovacuum would have done by the time of a report


def _csv(rows: list[Row]) -> io.BytesIO:
    text = io.StringIO()
    csv.writer(text).writerows(rows)  # None -> an empty unquoted field: NULL
    return io.BytesIO(text.getvalue().encode())


async def _pg_schema(
    con: Any,
) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    """Keys, unique constraints and foreign keys touching the loaded tables, and the other
    indexes on them: (table, name, definition, kind) and (name, CREATE INDEX ...)."""
    constraints = await con.fetch(
        "SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def,"
        " c.contype::text AS kind FROM pg_constraint c WHERE c.contype IN ('p', 'u', 'f')"
        " AND (c.conrelid::regclass::text = ANY($1::text[])"
        " OR (c.contype = 'f' AND c.confrelid::regclass::text = ANY($1::text[])))"
        " ORDER BY 1, 2",
        list(TABLES),
    )
    indexes = await con.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        " AND tablename = ANY($1::text[]) AND indexname NOT IN"
        " (SELECT conname FROM pg_constraint) ORDER BY 1",
        list(TABLES),
    )
    return (
        [(r["tbl"], r["conname"], r["def"], r["kind"]) for r in constraints],
        [(r["indexname"], r["indexdef"]) for r in indexes],
    )
