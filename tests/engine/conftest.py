"""Fixtures of the engine tier: a fake Asterisk per test, and the real engine against it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from router.storage.migrate import migrate
from tests.engine.harness import RouterUnderTest
from tests.fakeari import FakeAsterisk


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the newest schema, built once (migrating costs 0.1 s a test)."""
    path = tmp_path_factory.mktemp("engine-db") / "router.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(autouse=True)
def database(migrated_database: Path, tmp_path: Path) -> Path:
    """Every test's router starts from its own copy (the router still checks the schema)."""
    for source in migrated_database.parent.glob(migrated_database.name + "*"):
        shutil.copy(source, tmp_path / source.name)
    return tmp_path / migrated_database.name


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterisk]:
    async with FakeAsterisk() as ast:
        ast.phone("PJSIP/op1001", "answer")
        ast.phone("PJSIP/op1002", "answer")
        yield ast


@asynccontextmanager
async def running(fake: FakeAsterisk, folder: Path, **kw: Any) -> AsyncIterator[RouterUnderTest]:
    """A started router; stopped (as on SIGTERM) afterwards."""
    under_test = RouterUnderTest(fake, folder, **kw)
    await under_test.start()
    try:
        yield under_test
    finally:
        await under_test.stop()


@pytest.fixture
async def router(fake: FakeAsterisk, tmp_path: Path) -> AsyncIterator[RouterUnderTest]:
    async with running(fake, tmp_path) as under_test:
        yield under_test


@pytest.fixture
async def hasty_router(fake: FakeAsterisk, tmp_path: Path) -> AsyncIterator[RouterUnderTest]:
    """A router whose ARI requests time out after 0.3 s (for replies that never come)."""
    async with running(fake, tmp_path, request_timeout=0.3) as under_test:
        yield under_test
