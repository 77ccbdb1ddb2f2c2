"""The audit log: every console sign-in (ok or failed) and every supervisor/admin action."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from router.storage.db import Database
from router.storage.tables import audit_log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing a person did. `details` holds no phone numbers or patient data: ids only."""

    actor: str | None
    action: str  # e.g. "signin", "signout", "operator.pause"
    ok: bool = True
    target: str | None = None
    remote: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)
    at: datetime | None = None  # set by the repository when None
    id: int | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuditRepository:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._db = db
        self._clock = clock

    async def record(self, entry: AuditEntry) -> None:
        values = {
            "at": entry.at or self._clock(),
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "ok": entry.ok,
            "remote": entry.remote,
            "details": dict(entry.details),
        }
        async with self._db.begin() as conn:
            await conn.execute(audit_log.insert().values(values))

    async def recent(
        self, *, limit: int = 100, before_id: int | None = None, actor: str | None = None
    ) -> list[AuditEntry]:
        """Newest first; `before_id` pages back, `actor` filters by user name."""
        stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if before_id is not None:
            stmt = stmt.where(audit_log.c.id < before_id)
        if actor is not None:
            stmt = stmt.where(audit_log.c.actor == actor)
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_entry(r._mapping) for r in rows]


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        ok=bool(row["ok"]),
        remote=row["remote"],
        details=dict(row["details"] or {}),
    )
