"""The storage adapter's pure parts: value cleaning, time zones, error classes, URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import create_async_engine

from router.storage import Database, is_transient_error
from router.storage.types import UtcDateTime, clean_json, clean_text

MSK = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("plain", "plain"),
        ("'; DROP TABLE calls; --", "'; DROP TABLE calls; --"),
        ("😀\ufffd", "😀\ufffd"),
        ("a\x00b", "a\ufffdb"),
        ("\udcff\ud800x", "\ufffd\ufffdx"),
    ],
)
def test_clean_text(raw: str, stored: str) -> None:
    assert clean_text(raw) == stored


def test_clean_json_cleans_keys_and_nested_values() -> None:
    value = {"k\x00": ["\x00", ("t", 1), {"n": None, "b": True, "f": 0.5}]}
    assert clean_json(value) == {"k\ufffd": ["\ufffd", ["t", 1], {"n": None, "b": True, "f": 0.5}]}


@pytest.mark.parametrize(
    "bad", [{"t": datetime.now(UTC)}, {1: "x"}, {"b": b"x"}, {"n": float("nan")}]
)
def test_clean_json_refuses_what_json_cannot_hold(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        clean_json(bad)


def test_utc_datetime_on_sqlite_stores_naive_utc_and_reads_back_aware() -> None:
    column = UtcDateTime()
    dialect = SQLiteDialect_aiosqlite()
    stored = column.process_bind_param(datetime(2026, 1, 1, 3, 0, tzinfo=MSK), dialect)
    assert stored == datetime(2026, 1, 1, 0, 0)
    assert column.process_result_value(stored, dialect) == datetime(2026, 1, 1, tzinfo=UTC)


def test_utc_datetime_on_postgresql_stays_aware() -> None:
    column = UtcDateTime()
    dialect = create_async_engine("postgresql+asyncpg://").dialect  # no connection made
    stored = column.process_bind_param(datetime(2026, 1, 1, 3, 0, tzinfo=MSK), dialect)
    assert stored == datetime(2026, 1, 1, tzinfo=UTC) and stored.tzinfo is UTC
    back = column.process_result_value(datetime(2026, 1, 1, 3, 0, tzinfo=MSK), dialect)
    assert back is not None and back.tzinfo is UTC


def test_utc_datetime_refuses_naive_values() -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2026, 1, 1), SQLiteDialect_aiosqlite())


def test_transient_errors() -> None:
    locked = OperationalError("INSERT", {}, Exception("database is locked"))
    assert is_transient_error(locked)
    assert is_transient_error(TimeoutError())
    assert is_transient_error(ConnectionResetError())
    assert not is_transient_error(
        IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))
    )
    assert not is_transient_error(ProgrammingError("SELECT", {}, Exception("syntax")))
    assert not is_transient_error(ValueError("bad phase"))


async def test_unsupported_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        await Database.open("mysql+aiomysql://u@localhost/db")


async def test_ping_is_false_when_nothing_answers() -> None:
    # Port 9 (discard) has no PostgreSQL: refused at once, or the deadline ends it.
    db = Database(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none"))
    try:
        assert await db.ping(timeout_s=0.5) is False
    finally:
        await db.close()
