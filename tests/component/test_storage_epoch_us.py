"""`report_facts_sql.epoch_us`, the reports' timestamp to whole microseconds, is exact on
SQLite's text timestamps and PostgreSQL's `timestamptz` alike: a fraction SQLite would
round up to the next second, either side of 1970, past 2106 (32-bit seconds)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import literal, select
from storage_support import BACKENDS, migrated_store

from router.storage import Store
from router.storage.report_facts_sql import epoch_us, instant_us
from router.storage.types import UtcDateTime

AT = [
    datetime(2026, 10, 25, 0, 59, 59, 999_600, tzinfo=UTC),  # SQLite reads it as 1:00:00
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1900, 3, 1, 0, 0, 0, 500_000, tzinfo=UTC),
    datetime(2106, 2, 7, 6, 28, 15, 999_999, tzinfo=UTC),
    datetime(2199, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, 0, 0, tzinfo=UTC),
]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with migrated_store(request.param, tmp_path) as opened:
        yield opened


async def test_timestamps_convert_to_the_exact_microsecond(store: Store) -> None:
    d = store.db.dialect_name
    async with store.db.connect() as conn:
        got = [
            (await conn.execute(select(epoch_us(d, literal(at, UtcDateTime))))).scalar_one()
            for at in AT
        ]
    assert got == [instant_us(at) for at in AT]
