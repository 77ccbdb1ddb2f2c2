"""Console sessions on the server: the cookie holds only a random id.

The table keeps the id's SHA-256, never the id itself: a copy of the database does not
sign anyone in. Ending a session deletes its row, so a cookie copied before sign-out
(or before a new password, or a disabled user) is worth nothing afterwards, and the
rows survive a router restart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update

from router.storage.db import Database
from router.storage.tables import console_sessions

_s = console_sessions.c


@dataclass(frozen=True, slots=True)
class SessionRow:
    username: str
    created_at: datetime
    seen_at: datetime


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionRepository:
    """Each method is one short transaction; times are given by the caller."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(self, username: str, now: datetime) -> str:
        """A new session for `username`; its id, for the cookie only."""
        session_id = secrets.token_urlsafe(32)
        values = {"id_hash": _digest(session_id), "username": username}
        async with self._db.begin() as conn:
            await conn.execute(console_sessions.insert().values(
                **values, created_at=now, seen_at=now
            ))  # fmt: skip
        return session_id

    async def find(self, session_id: str) -> SessionRow | None:
        stmt = select(_s.username, _s.created_at, _s.seen_at).where(
            _s.id_hash == _digest(session_id)
        )
        async with self._db.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else SessionRow(row.username, row.created_at, row.seen_at)

    async def touch(self, session_id: str, now: datetime) -> None:
        stmt = update(console_sessions).where(_s.id_hash == _digest(session_id))
        async with self._db.begin() as conn:
            await conn.execute(stmt.values(seen_at=now))

    async def end(self, session_id: str) -> None:
        async with self._db.begin() as conn:
            await conn.execute(delete(console_sessions).where(_s.id_hash == _digest(session_id)))

    async def end_all(self, username: str) -> int:
        """Every session of `username` (sign-out everywhere); how many there were."""
        async with self._db.begin() as conn:
            result = await conn.execute(delete(console_sessions).where(_s.username == username))
        return int(result.rowcount or 0)

    async def purge(self, seen_before: datetime, created_before: datetime) -> None:
        """Drop the sessions past their idle or absolute expiry."""
        stale = or_(_s.seen_at < seen_before, _s.created_at < created_before)
        async with self._db.begin() as conn:
            await conn.execute(delete(console_sessions).where(stale))
