"""Misses and callbacks: every miss by reason and source, and what became of the
tasks — the "every miss worked" figure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from router.domain.reports.records import MissRecord, TaskRecord
from router.domain.reports.stats import percentile, rounded, share

ACTIVE = frozenset({"open", "claimed"})
REACHED = frozenset({"connected", "reached_operator"})


@dataclass(frozen=True, slots=True)
class MissFigures:
    misses: int
    by_reason: dict[str, int]
    by_source: dict[str, int]  # router | fallback
    anonymous: int  # withheld number: nobody can call them back
    without_task: int  # the callback policy made no task (e.g. hung up within seconds)
    tasks_created: int
    merged: int  # misses that joined a task already open for the number
    reached: int  # tasks closed because the patient was reached (called back or called in)
    called_back: int  # of `reached`: by a callback conversation
    called_in: int  # of `reached`: the patient called again and got an operator
    unreachable: int
    closed_other: dict[str, int]  # cancelled, done by hand, wrong number, do not call
    worked_share: float | None  # tasks created in the period closed to an outcome
    first_attempt_p50_s: float | None  # miss → first callback attempt
    reached_p50_s: float | None  # first miss → patient reached
    reached_p90_s: float | None
    attempts_per_success: float | None  # attempts of the tasks closed `connected`
    open_now: int  # active tasks at `now`, whenever created
    overdue_now: int  # active tasks due more than `overdue_after_s` ago


def misses_report(
    misses: Sequence[MissRecord],
    tasks: Sequence[TaskRecord],
    period: tuple[datetime, datetime],
    now: datetime,
    overdue_after_s: float = 3600.0,
) -> MissFigures:
    """`misses`: those of the period; `tasks`: those created in it and every active one
    (the backlog), however old. A miss is merged when its task existed before it."""
    start, end = period
    by_id = {t.id: t for t in tasks}
    created = [t for t in tasks if start <= t.created_at < end]
    merged = sum(
        1 for m in misses if m.task_id in by_id and by_id[m.task_id].created_at < m.missed_at
    )
    closed = Counter(t.close_reason for t in created if t.close_reason)
    reached = [t for t in created if t.close_reason in REACHED and t.closed_at]
    connected = [t for t in created if t.close_reason == "connected"]
    active = [t for t in tasks if t.state in ACTIVE]
    lag = [_secs(t.first_missed_at, t.first_attempt_at) for t in created if t.first_attempt_at]
    reach = [_secs(t.first_missed_at, t.closed_at) for t in reached if t.closed_at]
    other = {k: v for k, v in sorted(closed.items()) if k not in REACHED | {"unreachable"}}
    return MissFigures(
        misses=len(misses),
        by_reason=dict(sorted(Counter(m.reason for m in misses).items())),
        by_source=dict(sorted(Counter(m.source for m in misses).items())),
        anonymous=sum(1 for m in misses if m.anonymous),
        without_task=sum(1 for m in misses if m.task_id is None),
        tasks_created=len(created),
        merged=merged,
        reached=len(reached),
        called_back=closed["connected"],
        called_in=closed["reached_operator"],
        unreachable=closed["unreachable"],
        closed_other=other,
        worked_share=rounded(share(sum(closed.values()), len(created)), 4),
        first_attempt_p50_s=rounded(percentile(lag, 50)),
        reached_p50_s=rounded(percentile(reach, 50)),
        reached_p90_s=rounded(percentile(reach, 90)),
        attempts_per_success=rounded(share(sum(t.attempts for t in connected), len(connected)), 2),
        open_now=len(active),
        overdue_now=sum(1 for t in active if _secs(t.due_at, now) > overdue_after_s),
    )


def _secs(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds())
