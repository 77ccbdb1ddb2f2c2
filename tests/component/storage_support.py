"""Shared by the storage component tests: an empty database per test, on each backend.

SQLite always runs (a file in the test's tmp_path). PostgreSQL runs when
CLINIC_ROUTER_TEST_PG names a server (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test):
each test gets a database of its own, created from that URL and dropped afterwards, so
parallel runs and other suites using the same server never see each other's tables.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import make_url, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from router.storage import Store
from router.storage.migrate import migrate

PG_ENV = "CLINIC_ROUTER_TEST_PG"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} is not set"),
        ],
    ),
]


@asynccontextmanager
async def empty_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a database with nothing in it, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
        return
    admin_url = make_url(os.environ[PG_ENV])
    name = f"clinic_router_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    quoted = admin.dialect.identifier_preparer.quote(name)  # DDL takes no bound names
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {quoted}"))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        await admin.dispose()


# A SQLite file migrated once per test session (the folder above the tests' own), copied
# for each test: every migration run anew cost each test 0.1 s idle, several times that
# on a loaded machine. The copy is the file a migration leaves (its engine closed).
_MIGRATED_SQLITE: dict[Path, Path] = {}


async def _migrate(backend: str, url: str, tmp_path: Path) -> None:
    path = make_url(url).database
    if backend != "sqlite" or path is None:
        await migrate(url)
        return
    template = _MIGRATED_SQLITE.get(tmp_path.parent)
    if template is None:
        template = tmp_path.parent / "migrated-template" / "router.db"
        await migrate(f"sqlite+aiosqlite:///{template}")
        _MIGRATED_SQLITE[tmp_path.parent] = template
    shutil.copyfile(template, path)


@asynccontextmanager
async def migrated_store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with empty_database(backend, tmp_path) as url:
        await _migrate(backend, url, tmp_path)
        store = await Store.open(url)
        try:
            yield store
        finally:
            await store.close()
