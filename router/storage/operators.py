"""Operators: their configuration mirrored from the rules, and their last saved state."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from router.domain.operators import Operator, Presence
from router.storage.db import Database
from router.storage.models import OperatorRow, OperatorSync
from router.storage.tables import dialect_insert, operators

REMOVED_REASON = "removed from configuration"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OperatorRepository:
    """Operators as configured plus their live state, which survives a restart."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._db = db
        self._clock = clock

    async def sync(self, configured: Sequence[Operator]) -> OperatorSync:
        """Make the table match the configuration without losing anyone's state.

        New operators are added offline; known ones get their name, endpoint, team and
        branch updated and keep their state; operators no longer configured are marked
        offline and `configured=False` but kept, because journeys and reports name them.
        """
        ids = [op.id for op in configured]
        wanted = set(ids)
        if len(wanted) != len(ids):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate operator ids: {', '.join(duplicates)}")
        now = self._clock()
        async with self._db.begin() as conn:
            result = await conn.execute(select(operators.c.id, operators.c.configured))
            existing = {row.id: bool(row.configured) for row in result}
            added = [op for op in configured if op.id not in existing]
            known = [op for op in configured if op.id in existing]
            removed = sorted(i for i, still in existing.items() if still and i not in wanted)
            if added:
                # DO NOTHING: another router node syncing the same config at once wins.
                stmt = dialect_insert(self._db.dialect_name, operators).on_conflict_do_nothing()
                await conn.execute(stmt, [_new_row(op, now) for op in added])
            if known:
                await conn.execute(_CONFIG_UPDATE, [_config_params(op) for op in known])
            if removed:
                await conn.execute(
                    update(operators)
                    .where(operators.c.id.in_(removed))
                    .values(
                        configured=False,
                        state=Presence.OFFLINE.value,
                        state_reason=REMOVED_REASON,
                        state_changed_at=now,
                    )
                )
        return OperatorSync(added=tuple(op.id for op in added), removed=tuple(removed))

    async def list(self) -> builtins.list[OperatorRow]:
        """Every operator ever configured, by id (see `OperatorRow.configured`)."""
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(operators).order_by(operators.c.id))).all()
        return [_row(row._mapping) for row in rows]

    async def save_state(
        self,
        operator_id: str,
        presence: Presence | str,
        reason: str | None,
        changed_at: datetime,
        idle_since: datetime | None,
        calls_today: int,
        consecutive_no_answers: int | None = None,
    ) -> bool:
        """Persist an operator's live state; False when no such operator is stored.

        Times are aware datetimes (convert `time.time()` stamps with
        `datetime.fromtimestamp(t, UTC)`). `consecutive_no_answers=None` leaves the
        stored count as it is.
        """
        values = state_values(
            presence, reason, changed_at, idle_since, calls_today, consecutive_no_answers
        )
        stmt = update(operators).where(operators.c.id == operator_id).values(values)
        async with self._db.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1


def state_values(
    presence: Presence | str,
    reason: str | None,
    changed_at: datetime,
    idle_since: datetime | None,
    calls_today: int,
    consecutive_no_answers: int | None,
) -> dict[str, object]:
    """The columns `save_state` sets (shared with the journal's batches)."""
    values: dict[str, object] = {
        "state": Presence(presence).value,
        "state_reason": reason,
        "state_changed_at": changed_at,
        "idle_since": idle_since,
        "calls_today": calls_today,
    }
    if consecutive_no_answers is not None:
        values["consecutive_no_answers"] = consecutive_no_answers
    return values


# executemany: one statement, one parameter set per operator. The parameter names differ
# from the column names because SQLAlchemy reserves those for SET.
_CONFIG_UPDATE = (
    update(operators)
    .where(operators.c.id == bindparam("p_id"))
    .values(
        name=bindparam("p_name"),
        endpoint=bindparam("p_endpoint"),
        team=bindparam("p_team"),
        branch=bindparam("p_branch"),
        configured=True,
    )
)


def _config_params(op: Operator) -> dict[str, object]:
    return {
        "p_id": op.id,
        "p_name": op.name,
        "p_endpoint": op.endpoint,
        "p_team": op.team,
        "p_branch": op.branch,
    }


def _new_row(op: Operator, now: datetime) -> dict[str, object]:
    return {
        "id": op.id,
        "name": op.name,
        "endpoint": op.endpoint,
        "team": op.team,
        "branch": op.branch,
        "configured": True,
        "state": Presence.OFFLINE.value,
        "state_changed_at": now,
        "calls_today": 0,
        "consecutive_no_answers": 0,
    }


def _row(row: Any) -> OperatorRow:
    return OperatorRow(
        id=row["id"],
        name=row["name"],
        endpoint=row["endpoint"],
        team=row["team"],
        branch=row["branch"],
        configured=bool(row["configured"]),
        state=Presence(row["state"]),
        state_reason=row["state_reason"],
        state_changed_at=row["state_changed_at"],
        idle_since=row["idle_since"],
        calls_today=row["calls_today"],
        consecutive_no_answers=row["consecutive_no_answers"],
    )
