"""Console users: name, role, linked operator, password hash (argon2, made by the caller)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy import exc as sa_exc

from router.domain.console_access import Role
from router.storage.db import Database
from router.storage.tables import console_sessions, console_users


@dataclass(frozen=True, slots=True)
class UserRow:
    username: str
    role: Role
    operator_id: str | None
    password_hash: str
    disabled: bool
    created_at: datetime
    password_changed_at: datetime


class UserExistsError(Exception):
    """`add` of a name that is taken."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UserRepository:
    """The console's users. Names are stored as given and looked up as given."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._db = db
        self._clock = clock

    async def add(
        self, username: str, role: Role, operator_id: str | None, password_hash: str
    ) -> UserRow:
        now = self._clock()
        values = {
            "username": username,
            "role": role.value,
            "operator_id": operator_id,
            "password_hash": password_hash,
            "disabled": False,
            "created_at": now,
            "password_changed_at": now,
        }
        try:
            async with self._db.begin() as conn:
                await conn.execute(console_users.insert().values(values))
        except sa_exc.IntegrityError:
            raise UserExistsError(username) from None
        return _row(values)

    async def get(self, username: str) -> UserRow | None:
        stmt = select(console_users).where(console_users.c.username == username)
        async with self._db.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _row(row._mapping)

    async def list(self) -> builtins.list[UserRow]:
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(console_users).order_by("username"))).all()
        return [_row(r._mapping) for r in rows]

    async def set_password(self, username: str, password_hash: str) -> bool:
        """Replace the hash and end every session of the user. False: no such user."""
        return await self._update(
            username,
            end_sessions=True,
            password_hash=password_hash,
            password_changed_at=self._clock(),
        )

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disabling ends every session of the user at once."""
        return await self._update(username, end_sessions=disabled, disabled=disabled)

    async def _update(self, username: str, *, end_sessions: bool, **values: object) -> bool:
        stmt = update(console_users).where(console_users.c.username == username).values(values)
        async with self._db.begin() as conn:
            result = await conn.execute(stmt)
            if end_sessions:  # same transaction: no moment where both hold
                sessions = console_sessions.c
                await conn.execute(delete(console_sessions).where(sessions.username == username))
        return result.rowcount == 1


def _row(row: Any) -> UserRow:
    return UserRow(
        username=row["username"],
        role=Role(row["role"]),
        operator_id=row["operator_id"],
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        password_changed_at=row["password_changed_at"],
    )
