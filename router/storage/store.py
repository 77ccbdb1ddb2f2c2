"""The storage facade the composition root builds: one database, its repositories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from router.storage.audit import AuditRepository
from router.storage.callbacks import CallbacksRepo
from router.storage.calls import CallRepository
from router.storage.console_sessions import SessionRepository
from router.storage.db import Database, is_transient_error
from router.storage.migrate import migrate as run_migrations
from router.storage.operators import OperatorRepository
from router.storage.patients import PatientRepository
from router.storage.report_rows import ReportRows
from router.storage.users import UserRepository

__all__ = ["Store", "is_transient_error"]  # is_transient_error: for the journey writer


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """`store.patients`, `.operators`, `.calls`, `.callbacks`, `.users`, `.sessions`,
    `.audit`, `.reports`: one `Database`.

    Build it once in the composition root (`await Store.open(url)`), pass it down, and
    `await store.close()` on shutdown. Migrate before use: `Store.open(url, migrate=True)`
    or `router.storage.migrate.migrate(url)`.
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.db = db
        self.patients = PatientRepository(db, clock=clock)
        self.operators = OperatorRepository(db, clock=clock)
        self.calls = CallRepository(db)
        self.callbacks = CallbacksRepo(db, clock=clock)
        self.users = UserRepository(db, clock=clock)  # console users (router/console)
        self.audit = AuditRepository(db, clock=clock)
        self.sessions = SessionRepository(db)  # console sign-ins, held on the server
        self.reports = ReportRows(db)  # a period's rows for router.domain.reports

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = False,
        busy_timeout_ms: int = 5_000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> Store:
        """Connect (failing fast if the database is unreachable); `migrate=True` first
        upgrades the schema to the newest revision (a no-op when it is there)."""
        if migrate:
            await run_migrations(url)
        return cls(await Database.open(url, busy_timeout_ms=busy_timeout_ms), clock=clock)

    async def ping(self, timeout_s: float = 1.0) -> bool:
        return await self.db.ping(timeout_s)

    async def close(self) -> None:
        await self.db.close()
