"""Migrations: they build the schema the code expects, once, on both backends."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from storage_support import BACKENDS, empty_database

from router.storage import Database, Store
from router.storage.migrate import current_revision, head_revision, migrate
from router.storage.tables import metadata

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "patients",
    "patient_phones",
    "appointments",
    "operators",
    "calls",
    "call_events",
    "ring_attempts",
    "callback_tasks",
    "misses",
}


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migrate_builds_the_schema_of_the_tables_module(backend: str, tmp_path: Path) -> None:
    async with empty_database(backend, tmp_path) as url:
        assert await current_revision(url) is None
        await migrate(url)
        assert await current_revision(url) == head_revision()
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                assert await conn.run_sync(_table_names) >= TABLES
                # Catches a column or index added to tables.py without a migration (and
                # server defaults that differ: compare_server_default is on).
                assert await conn.run_sync(_schema_diff) == []
        finally:
            await engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migrating_twice_is_a_no_op_that_keeps_data(backend: str, tmp_path: Path) -> None:
    async with empty_database(backend, tmp_path) as url:
        await migrate(url)
        store = await Store.open(url)
        try:
            await store.operators.sync([])
            async with store.db.begin() as conn:
                await conn.execute(
                    text("INSERT INTO operators (id, name, endpoint) VALUES (:id, :n, :e)"),
                    {"id": "op1", "n": "Anna", "e": "PJSIP/op1001"},
                )
            await migrate(url)
            assert await current_revision(url) == head_revision()
            assert [row.id for row in await store.operators.list()] == ["op1"]
        finally:
            await store.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_concurrent_migrations_serialise(backend: str, tmp_path: Path) -> None:
    # Two router nodes starting at once against one database.
    async with empty_database(backend, tmp_path) as url:
        await asyncio.gather(migrate(url), migrate(url), migrate(url))
        assert await current_revision(url) == head_revision()


async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'deep' / 'er' / 'router.db'}"  # folders created
    await migrate(url)
    db = await Database.open(url, busy_timeout_ms=1234)
    try:
        async with db.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 1234
    finally:
        await db.close()


async def test_current_revision_does_not_create_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    assert await current_revision(f"sqlite+aiosqlite:///{path}") is None
    assert not path.exists()


def _alembic(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(REPO / "sql" / "alembic.ini"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def test_alembic_cli_upgrades_through_sql_alembic_ini(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    done = _alembic("-x", f"url={url}", "upgrade", "head")
    assert done.returncode == 0, done.stderr
    current = _alembic("-x", f"url={url}", "current")
    assert current.returncode == 0, current.stderr
    assert f"{head_revision()} (head)" in current.stdout


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+asyncpg://"])
def test_alembic_cli_renders_offline_sql(url: str) -> None:
    done = _alembic("-x", f"url={url}", "upgrade", "head", "--sql")
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE calls" in done.stdout
    assert "CREATE INDEX ix_calls_open ON calls (app) WHERE ended_at IS NULL" in done.stdout


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_failed_migration_leaves_nothing_behind(backend: str, tmp_path: Path) -> None:
    # ring_attempts is the last table 0001 creates: make it fail there, after the others.
    async with empty_database(backend, tmp_path) as url:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE ring_attempts (x INTEGER)"))
            with pytest.raises(Exception, match="ring_attempts"):
                await migrate(url)
            async with engine.connect() as conn:
                assert await conn.run_sync(_table_names) == {"ring_attempts"}
        finally:
            await engine.dispose()
        assert await current_revision(url) is None


@pytest.mark.parametrize("backend", BACKENDS)
async def test_store_open_can_migrate_first(backend: str, tmp_path: Path) -> None:
    async with empty_database(backend, tmp_path) as url:
        store = await Store.open(url, migrate=True)
        try:
            assert await store.ping()
            assert await store.calls.recent() == []
        finally:
            await store.close()
        assert await current_revision(url) == head_revision()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_0002_keeps_the_patients_of_0001(backend: str, tmp_path: Path) -> None:
    async with empty_database(backend, tmp_path) as url:
        await migrate(url, "0001")
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO patients (id, name, tags, updated_at) "
                        "VALUES ('p1', 'Anna', '[]', CURRENT_TIMESTAMP)"
                    )
                )
                await conn.execute(
                    text(
                        "INSERT INTO patient_phones (phone, patient_id) "
                        "VALUES ('+79161234567', 'p1')"
                    )
                )
        finally:
            await engine.dispose()
        await migrate(url)
        store = await Store.open(url)
        try:
            [found] = await store.patients.find_by_phone("+79161234567")
            assert (found.id, found.birth_year, found.last_contact, found.appointments) == (
                "p1",
                None,
                None,
                (),
            )
        finally:
            await store.close()
