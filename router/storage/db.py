"""The database connection: one `AsyncEngine` per process, SQLite or PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from router.storage.sqlite_file import FileGuard, FileProblem, describe

log = logging.getLogger(__name__)

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
FILE_CHECK_S = 2.0  # how often `watch` looks at the SQLite file between writes


class DatabaseFileError(OSError):
    """The SQLite file at the configured path is not the one opened: writes are refused
    (the journey writer keeps and retries them) rather than lost in a deleted file."""


class Database:
    """Owns the engine. Every repository operation takes one short connection from it.

    Writes use `begin()` (a transaction committed on exit); reads use `connect()`.
    Nothing is held between operations, so many call coroutines can write at once:
    PostgreSQL handles that itself; on SQLite, writers of this process queue on an
    asyncio lock (fair, never "database is locked"), and WAL plus a busy timeout cover
    other processes (an admin's sqlite3 shell, a second router on the same file).
    """

    def __init__(self, engine: AsyncEngine, file: FileGuard | None = None) -> None:
        self._engine = engine
        self._file = file  # SQLite on a file: is it still the one opened?
        # SQLite has one writer at a time. Left to itself, a waiting writer polls the file
        # lock with growing sleeps and keeps losing to a bulk import that re-takes the
        # lock at once (measured: 0.6 s stalls of journey writes). Queuing our own writers
        # here, first come first served, keeps every write's wait at one transaction.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    async def open(cls, url: str, *, busy_timeout_ms: int = 5_000, echo: bool = False) -> Database:
        """Connect to `url` (`sqlite+aiosqlite:////abs/path.db`, `postgresql+asyncpg://...`).

        Connects once before returning, so a wrong URL or an unreachable server fails
        here, at startup, rather than on the first call. The schema is not touched:
        run `migrate(url)` first.
        """
        backend = make_url(url).get_backend_name()
        if backend not in SUPPORTED_BACKENDS:
            raise ValueError(
                f"unsupported database {backend!r} (supported: {', '.join(SUPPORTED_BACKENDS)})"
            )
        prepare_sqlite_path(url)
        engine = create_async_engine(url, echo=echo, pool_pre_ping=backend == "postgresql")
        path = _sqlite_path(url)
        file = None if path is None else FileGuard(path)
        if backend == "sqlite":
            _install_sqlite_pragmas(engine, busy_timeout_ms)
        if file is not None:
            file.install(engine)
        connected = False
        try:
            async with engine.connect() as conn:
                await conn.execute(select(1))
            connected = True
        finally:
            if not connected:  # also on cancellation: leave no pool behind
                await engine.dispose()
        if file is not None:
            file.pin()
        return cls(engine, file)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed on a clean exit, rolled back otherwise.

        Keep it short, and never nest one in another: on SQLite every other writer in
        this process waits for it (the lock is not reentrant).
        """
        if self._write_lock is None:
            async with self._engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            self._refuse_if_file_moved()
            async with self._engine.begin() as conn:
                yield conn

    def connect(self) -> AsyncConnection:
        """A connection for reads (use `async with`); nothing it does is committed."""
        return self._engine.connect()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose reads all see the database as of its first read (a report
        reading marks, then rows: a build or a late write committed in between would
        mix two states). PostgreSQL: REPEATABLE READ; SQLite: a read transaction begun
        by hand (its driver begins one only at a write). Rolled back at the end, unless
        the caller commits (its temporary tables)."""
        async with self._engine.connect() as conn:
            if self.dialect_name == "postgresql":
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            else:
                await conn.exec_driver_sql("BEGIN")
            yield conn

    @property
    def file_problem(self) -> str | None:
        """Why the SQLite file cannot take writes now (as last checked), None when it can."""
        if self._file is None or self._file.problem is None:
            return None
        return describe(self._file.problem, self._file.path)

    def _refuse_if_file_moved(self) -> None:
        # One stat per transaction: after a deletion no write goes into the unlinked file.
        if self._file is not None and self._file.check() is not None:
            raise DatabaseFileError(self.file_problem)

    async def verify(self) -> str | None:
        """Check the SQLite file; a deleted one whose folder is there is restored from the
        open connections (with the writes made since) and used again. Returns the problem
        left, None when there is none."""
        if self._file is not None and self._file.check() is FileProblem.DELETED:
            assert self._write_lock is not None  # a file guard is SQLite's
            async with self._write_lock:
                await self._file.restore(self._engine)
        return self.file_problem

    async def watch(self, interval_s: float = FILE_CHECK_S) -> None:
        """`verify` every `interval_s` seconds, so an idle router notices too (runs until
        cancelled; writes check the file themselves)."""
        if self._file is None:
            return
        said = ""
        while True:
            try:
                await self.verify()
                said = ""
            except (OSError, sa_exc.SQLAlchemyError) as exc:  # tried again at the next round
                what = f"{type(exc).__name__}: {exc}"
                if what != said:  # once, not every round
                    log.error("checking the database file failed: %s", what)
                    said = what
            await asyncio.sleep(interval_s)

    async def ping(self, timeout_s: float = 1.0) -> bool:
        """True when the database answers `SELECT 1` within `timeout_s` seconds (and, on
        SQLite, the file at its path is the one opened)."""
        if self._file is not None and self._file.check() is not None:
            return False
        try:
            async with asyncio.timeout(timeout_s), self._engine.connect() as conn:
                await conn.execute(select(1))
        except (TimeoutError, OSError, sa_exc.SQLAlchemyError):
            return False
        return True

    async def close(self) -> None:
        await self._engine.dispose()


def is_transient_error(exc: BaseException) -> bool:
    """Whether retrying a failed write may succeed (for the journey writer's retries).

    Lost connections, timeouts and SQLite's "database is locked" are transient; integrity,
    data and programming errors will fail the same way every time.
    """
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return isinstance(exc, TimeoutError | OSError | sa_exc.TimeoutError | sa_exc.DisconnectionError)


def prepare_sqlite_path(url: str | URL) -> None:
    """Create the folder of a SQLite file: SQLite creates the file but not its folder."""
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def sqlite_file_exists(url: str | URL) -> bool:
    """False only for a SQLite file URL whose file does not exist (yet)."""
    path = _sqlite_path(url)
    return path is None or path.exists()


def _sqlite_path(url: str | URL) -> Path | None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename: leave it to SQLite
        return None
    return Path(database)


def _install_sqlite_pragmas(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    # Per-connection settings, so they are applied on every new pooled connection.
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # WAL: readers never block the writer and vice versa (the dashboard reads
            # journeys while calls write them). Persistent in the file once set.
            cursor.execute("PRAGMA journal_mode = WAL")
            # Wait for the write lock instead of failing at once with "database is locked".
            # PRAGMAs take no bound parameters; the value is an int we formatted ourselves.
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
            cursor.execute("PRAGMA foreign_keys = ON")  # off by default in SQLite
            # In WAL mode NORMAL is safe against application crashes and corruption; a
            # power cut may lose the last transactions. FULL would fsync every journey write.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    event.listen(engine.sync_engine, "connect", on_connect)
