"""What the what-if replay reads beyond the report rows: each call's menu keys and the
patient it was about (the rules' conditions look at the patient)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from router.storage.db import Database
from router.storage.tables import call_events, calls


async def menu_keys(db: Database, start: datetime, end: datetime) -> dict[str, list[str | None]]:
    """The key each caller chose in each menu that was played to them, in order (None:
    they pressed no valid key and got the menu's default). Menus the router answered itself
    are left out: the replayed walk decides those from the caller's facts again."""
    e = call_events.c
    stmt = (
        select(e.call_id, e.data)
        .join(calls, calls.c.id == e.call_id)
        .where(calls.c.started_at >= start, calls.c.started_at < end, e.kind == "menu")
        .order_by(e.call_id, e.at, e.id)
    )
    keys: dict[str, list[str | None]] = defaultdict(list)
    async with db.connect() as conn:
        for row in (await conn.execute(stmt)).all():
            if row.data.get("action") == "play":
                chosen = row.data.get("chosen")
                pressed = row.data.get("pressed") or []
                keys[row.call_id].append(chosen if chosen in pressed else None)
    return keys


async def patient_ids(db: Database, start: datetime, end: datetime) -> dict[str, str]:
    c = calls.c
    stmt = select(c.id, c.patient_id).where(
        c.started_at >= start, c.started_at < end, c.patient_id.is_not(None)
    )
    async with db.connect() as conn:
        return {row.id: row.patient_id for row in (await conn.execute(stmt)).all()}


async def answered_by_operator(db: Database, start: datetime, end: datetime) -> dict[str, int]:
    """How many calls each operator answered of those started in `[start, end)`: their
    calls today before a replay that starts in the middle of a day."""
    c = calls.c
    stmt = (
        select(c.operator_id, func.count())
        .where(
            c.started_at >= start,
            c.started_at < end,
            c.answered_at.is_not(None),
            c.operator_id.is_not(None),
        )
        .group_by(c.operator_id)
    )
    async with db.connect() as conn:
        return {row[0]: int(row[1]) for row in (await conn.execute(stmt)).all()}
