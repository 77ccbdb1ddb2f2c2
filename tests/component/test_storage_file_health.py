"""The SQLite file deleted or replaced under a running store (a real file in tmp_path)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from router.storage import Store
from router.storage.calls import call_values, create_statement
from router.storage.db import DatabaseFileError, is_transient_error
from router.storage.models import CallRow
from router.storage.sqlite_file import restore_target

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def row(call_id: str) -> CallRow:
    return CallRow(id=call_id, app="clinic-router", caller_raw="100", did="100", started_at=T0)


@asynccontextmanager
async def running(folder: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{folder / 'router.db'}", migrate=True)
    try:
        yield store
    finally:
        await store.close()


async def stored_ids(folder: Path) -> list[str]:
    """The calls a router started afresh on the file would find."""
    async with running(folder) as store:
        return sorted(r.id for r in await store.calls.recent(limit=100))


async def test_a_deleted_folder_refuses_writes_and_is_restored_with_everything(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data"
    async with running(folder) as store:
        await store.calls.create(row("before"))
        assert await store.ping() and await store.db.verify() is None
        shutil.rmtree(folder)
        # not reachable, and no write goes into the deleted file
        assert not await store.ping()
        with pytest.raises(DatabaseFileError) as refused:
            await store.calls.create(row("during"))
        assert is_transient_error(refused.value)  # the journey writer keeps and retries it
        problem = await store.db.verify()
        assert problem is not None and "folder" in problem and "deleted" in problem
        assert not folder.exists()  # the router does not re-create it by itself
        folder.mkdir()
        assert await store.db.verify() is None
        assert await store.ping()
        await store.calls.create(row("after"))
    assert await stored_ids(folder) == ["after", "before"]


async def test_writes_into_the_deleted_file_before_it_was_noticed_are_kept(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data"
    async with running(folder) as store:
        await store.calls.create(row("before"))
        shutil.rmtree(folder)
        # what SQLite does on its own: the write lands in the unlinked file
        async with store.db.engine.begin() as conn:
            await conn.execute(create_statement("sqlite"), [call_values(row("unnoticed"))])
        assert not await store.ping()  # noticed now
        folder.mkdir()
        assert await store.db.verify() is None  # restored with what the deleted file held
    assert await stored_ids(folder) == ["before", "unnoticed"]


async def test_a_replaced_file_is_never_overwritten(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    async with running(folder) as store:
        db_file = folder / "router.db"
        await store.calls.create(row("mine"))
        db_file.rename(folder / "moved.db")
        db_file.write_bytes(b"someone else's file")
        problem = await store.db.verify()
        assert problem is not None and "replaced" in problem
        with pytest.raises(DatabaseFileError):
            await store.calls.create(row("refused"))
        assert db_file.read_bytes() == b"someone else's file"
        # the original back at its path: used again, nothing to restore
        (folder / "moved.db").replace(db_file)
        assert await store.db.verify() is None
        await store.calls.create(row("again"))
    assert await stored_ids(folder) == ["again", "mine"]


async def test_no_empty_database_is_created_in_a_recreated_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    async with running(folder) as store:
        shutil.rmtree(folder)
        folder.mkdir()
        # a second connection is a new one (the API's reads): it must fail, not create
        # an empty database there that later writes would take for the real one
        with pytest.raises(OperationalError):
            async with store.db.engine.connect() as c1, store.db.engine.connect() as c2:
                await c2.exec_driver_sql("SELECT 1")
                del c1
        assert not (folder / "router.db").exists()


async def test_a_connection_in_use_during_the_restore_is_closed_before_the_file_is_back(
    tmp_path: Path,
) -> None:
    # The last connection of a deleted WAL database deletes `<path>-wal` by name when it
    # closes: none may close after the restored file is in place.
    folder = tmp_path / "data"
    db_file = folder / "router.db"
    async with running(folder) as store:
        await store.calls.create(row("before"))
        reader = await store.db.engine.connect()  # the API reading while it happens
        async with store.db.engine.connect() as idle:  # a second one, back in the pool
            await idle.exec_driver_sql("SELECT 1")
        await reader.exec_driver_sql("SELECT 1")
        shutil.rmtree(folder)
        folder.mkdir()
        restoring = asyncio.create_task(store.db.verify())
        async with asyncio.timeout(5):
            while not restore_target(db_file).exists():  # noqa: ASYNC110 - a file, polled
                await asyncio.sleep(0.01)
        assert not db_file.exists()  # not in place while the reader holds the old file
        await reader.close()
        async with asyncio.timeout(5):
            assert await restoring is None
        await store.calls.create(row("after"))
        assert db_file.with_name("router.db-wal").exists()  # the new file's, still there
    assert await stored_ids(folder) == ["after", "before"]
