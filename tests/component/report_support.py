"""Generated periods for the report tests (`test_storage_report_sql.py`,
`test_storage_report_rollup.py`): calls with every outcome, fallbacks, calls still live,
lines known only from the journey, waits for several queues, rings; operators' state
histories with the cases the figures' rules are about; misses and callback tasks. The
period (`T0`, 40 hours) crosses Berlin's clock change of 25 October."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from router.domain.operators import Operator
from router.storage import Store
from router.storage.tables import (
    call_events,
    callback_tasks,
    calls,
    misses,
    operator_states,
    ring_attempts,
)

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)  # the clocks go back in this period
OPS = ("op1", "op2", "op3", "op4")
QUEUES = ("queue dms", "queue paid", "assigned op1", "")
OUTCOMES = (
    "answered", "answered", "answered", "abandoned", "abandoned", "no_operator", "callback",
    "voicemail", "message", "failed", "lost", None,
)  # fmt: skip


def _at(rnd: random.Random, base: datetime, low: float, high: float) -> datetime:
    # microseconds on purpose: sums and percentiles must agree to the microsecond
    return base + timedelta(microseconds=rnd.randrange(int(low * 1e6), int(high * 1e6)))


def _history(seed: int, n: int) -> dict[str, list[dict[str, Any]]]:
    rnd = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {"calls": [], "events": [], "rings": [], "misses": []}
    for i in range(n):
        cid = f"c{seed}-{i}"
        start = _at(rnd, T0, -3600, 40 * 3600)  # some before the period
        outcome = rnd.choice(OUTCOMES)
        line = rnd.choice(("moscow", "spb", "ryazan", None))
        row: dict[str, Any] = {
            "id": cid, "app": "clinic-router", "caller_raw": "x", "did": "7495",
            "line": line, "started_at": start, "phase": "ended" if outcome else "waiting",
            "patient_id": f"p{i}" if rnd.random() < 0.5 else None, "outcome": outcome,
            "answered_at": None, "ended_at": None, "operator_id": None, "tried_operators": [],
        }  # fmt: skip
        if line is None and rnd.random() < 0.7:  # recorded before the row had its line
            out["events"].append(_event(cid, start, "arrived", {"line": "spb"}))
        at = _at(rnd, start, 0, 40)
        waited = rnd.random() < 0.8
        if waited:
            out["events"].append(_event(cid, at, "waiting", {"for": rnd.choice(QUEUES)}))
            if rnd.random() < 0.2:  # a second wait (moved): the first one counts
                out["events"].append(_event(cid, _at(rnd, at, 1, 9), "waiting", {"for": "x"}))
        if rnd.random() < 0.05:
            out["events"].append(_event(cid, _at(rnd, at, 0, 5), "fallback", {}))
        ring_at = _at(rnd, at, 0, 30)
        for _ in range(rnd.randrange(0, 3)):
            result = rnd.choice(("no_answer", "busy", "cancelled", "unavailable", "answered"))
            secs = rnd.randrange(0, 20_000)
            out["rings"].append({
                "call_id": cid, "operator_id": rnd.choice(OPS), "channel_id": None,
                "started_at": ring_at, "ended_at": ring_at + timedelta(milliseconds=secs),
                "result": result, "duration_ms": None if rnd.random() < 0.1 else secs,
            })  # fmt: skip
            ring_at += timedelta(milliseconds=secs)
        if outcome == "answered":
            # now and then answered "before" the wait began (clock skew): speed < 0
            answered = _at(rnd, ring_at, -3 if rnd.random() < 0.05 else 0, 10)
            row.update(answered_at=answered, operator_id=rnd.choice(OPS))
            row["ended_at"] = _at(rnd, answered, 1, 600)
        elif outcome is not None:
            row["ended_at"] = _at(rnd, ring_at, 0, 60)
        out["calls"].append(row)
        if outcome in ("abandoned", "no_operator") or rnd.random() < 0.03:
            fallback = rnd.random() < 0.3
            out["misses"].append({
                "call_id": f"ast-{cid}" if fallback and rnd.random() < 0.5 else cid,
                "line": line, "number_e164": "+7916", "waited_s": 3.5,
                "reason": "fallback_unanswered" if fallback else "abandoned",
                "missed_at": row["ended_at"] or start, "task_id": None, "anonymous": False,
            })  # fmt: skip
    return out


def _event(cid: str, at: datetime, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"call_id": cid, "at": at, "kind": kind, "data": data}


STATES = ("available", "ringing", "on_call", "wrap_up", "paused", "offline")
REASONS = ("lunch", "training", None, "")
CLOCK_CHANGE = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # Berlin: 03:00 CEST -> 02:00 CET


def _states(seed: int) -> list[dict[str, Any]]:
    """Every operator's changes from before the period to past its end, plus the cases
    the figures' rules are about."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []

    def change(op: str, state: str, at: datetime, reason: str | None = None) -> None:
        rows.append({"operator_id": op, "state": state, "reason": reason, "at": at})

    for op in OPS[:2]:
        at = _at(rnd, T0, -6 * 3600, -3600)
        while at < T0 + timedelta(hours=40):
            state = rnd.choice(STATES)
            change(op, state, at, rnd.choice(REASONS) if state == "paused" else None)
            at = _at(rnd, at, 1, 5400)
    # op3, by hand: a change exactly at the start, a pause across the clock change, two
    # changes at one instant (the later row wins), a pause asked for during a call that
    # took effect when the call ended
    change("op3", "available", T0 - timedelta(hours=2))
    change("op3", "wrap_up", T0)
    change("op3", "available", T0 + timedelta(minutes=10))
    change("op3", "wrap_up", CLOCK_CHANGE - timedelta(minutes=40))
    change("op3", "paused", CLOCK_CHANGE - timedelta(minutes=30), "lunch")
    change("op3", "available", CLOCK_CHANGE + timedelta(minutes=50))
    change("op3", "wrap_up", CLOCK_CHANGE + timedelta(minutes=50))
    change("op3", "on_call", CLOCK_CHANGE + timedelta(minutes=60))
    call_end = CLOCK_CHANGE + timedelta(minutes=64, microseconds=123_457)
    change("op3", "paused", call_end, "training")
    change("op3", "available", call_end + timedelta(minutes=17, microseconds=5))
    # op4: paused since before the period, still paused at its end (no change in it)
    change("op4", "wrap_up", T0 - timedelta(days=4))
    change("op4", "paused", T0 - timedelta(days=3), "lunch")
    # op9 is not in the operators table (only its changes in the period count)
    change("op9", "paused", T0 + timedelta(hours=1), "lunch")
    change("op9", "wrap_up", T0 + timedelta(hours=30))  # still open at the end
    unique = {(r["operator_id"], r["at"], r["state"]): r for r in rows}
    return list(unique.values())


CLOSES = ("connected", "connected", "reached_operator", "unreachable", "done", "cancelled",
          "wrong_number", "do_not_call", "", None)  # fmt: skip


def _ledger(seed: int, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Callback tasks (some created before the period, the backlog among them) and the
    misses that made or joined them."""
    rnd = random.Random(seed + 100)
    tasks: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        first = _at(rnd, T0, -30 * 3600, 38 * 3600)
        active = rnd.random() < 0.25
        close = None if active else rnd.choice(CLOSES)
        attempt = _at(rnd, first, -60, 7200) if rnd.random() < 0.7 else None
        closed = None if active or rnd.random() < 0.05 else _at(rnd, first, -30, 20_000)
        tasks.append({
            "number_e164": f"+7916{seed:02d}{i:05d}", "line": rnd.choice(("spb", None)),
            "state": rnd.choice(("open", "claimed")) if active else "closed",
            "reasons": ["abandoned"], "miss_count": 1, "first_missed_at": first,
            "last_missed_at": first, "due_at": _at(rnd, first, -3600, 40_000),
            "attempts": rnd.randrange(0, 4), "first_attempt_at": attempt, "closed_at": closed,
            "close_reason": close, "closed_by": rnd.choice(("op1", "op2", None)),
            "attempt_operator_id": rnd.choice(("op2", "op3", None, "")),
            "created_at": first, "keep_place": False, "priority": 0,
        })  # fmt: skip
        for k in range(rnd.choice((1, 1, 2, 3))):  # the first made it, the others joined
            at = first if k == 0 else _at(rnd, first, 1, 30_000)
            reason = rnd.choice(("abandoned", "no_operator", "max_wait", "fallback_unanswered"))
            missed.append({
                "call_id": f"m{seed}-{i}-{k}", "line": None, "number_e164": "+7916",
                "waited_s": 1.0, "reason": reason, "missed_at": at, "task_id": i,
                "anonymous": rnd.random() < 0.1,
            })  # fmt: skip
    return tasks, missed


async def _fill(store: Store, seed: int, n: int) -> None:
    await store.operators.sync([Operator(op, op, f"PJSIP/{op}") for op in OPS])
    rows = _history(seed, n)
    async with store.db.begin() as conn:
        for table, name in ((calls, "calls"), (call_events, "events"), (ring_attempts, "rings"),
                            (misses, "misses")):  # fmt: skip
            if rows[name]:
                await conn.execute(insert(table), rows[name])
        await conn.execute(insert(operator_states), _states(seed))
        tasks, missed = _ledger(seed, n // 4)
        made = await conn.execute(
            insert(callback_tasks).returning(callback_tasks.c.id, sort_by_parameter_order=True),
            tasks,
        )
        ids = made.scalars().all()  # the database's own ids (a sequence on PostgreSQL)
        await conn.execute(
            insert(misses), [{**m, "task_id": ids[m["task_id"] - 1]} for m in missed]
        )
