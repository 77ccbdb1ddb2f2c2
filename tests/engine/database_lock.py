"""Another writer holding SQLite's write lock: a database slow to write, for the tests of
what reads the open calls while the journal is behind (ARI mode's reconcile, AGI mode's
resync)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path


@asynccontextmanager
async def database_locked(path: Path) -> AsyncIterator[None]:
    """Another writer holds SQLite's write lock: the journal's batches wait (and retry),
    reads still work (WAL), as with a database that is slow to write. Taken in a thread:
    waiting for it in the event loop would also stop the router's batch that holds the
    lock from finishing (a five-second deadlock, then "database is locked")."""
    db = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
    try:
        await asyncio.to_thread(db.execute, "BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()
