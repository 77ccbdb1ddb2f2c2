"""The rows of `callback_rings`: a callback attempt's rings (the operator's, the
patient's), written through the journal like an inbound call's rings."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from router.domain.calls import RingResult
from router.storage.tables import callback_rings, dialect_insert

PARTIES = ("operator", "patient")


def callback_ring_values(
    task_id: int,
    attempt: int,
    party: str,
    operator_id: str,
    channel_id: str,
    started_at: datetime,
    ended_at: datetime,
    result: str,
    duration_ms: int,
) -> dict[str, object]:
    if party not in PARTIES:
        raise ValueError(f"a callback ring's party is one of {PARTIES}, not {party!r}")
    return {
        "task_id": task_id,
        "attempt": attempt,
        "party": party,
        "operator_id": operator_id,
        "channel_id": channel_id,
        "started_at": started_at,
        "ended_at": ended_at,
        "result": RingResult(result).value,
        "duration_ms": duration_ms,
    }


@cache
def insert_statement(dialect: str) -> Any:
    """INSERT that leaves a ring already recorded alone (its channel is unique): a
    restarted router that adopts a ring and records its end again writes nothing."""
    insert = dialect_insert(dialect, callback_rings)
    return insert.on_conflict_do_nothing(index_elements=["channel_id"])
