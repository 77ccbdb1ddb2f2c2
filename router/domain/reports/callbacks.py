"""Misses and callbacks: every miss by reason and source, and what became of the
tasks — the "every miss worked" figure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class MissSums:
    """What the misses' figures are made of (see `CallSums`): `miss_sums` takes them from
    records, the storage's SQL in the database, `misses_of` makes the figures of either.
    `closed`: the period's tasks by close reason; `attempts_connected`: the attempts of
    those closed `connected`."""

    misses: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    anonymous: int = 0
    without_task: int = 0
    tasks_created: int = 0
    merged: int = 0
    closed: dict[str, int] = field(default_factory=dict)
    reached: int = 0
    attempts_connected: int = 0
    first_attempt_p50_s: float | None = None
    reached_p50_s: float | None = None
    reached_p90_s: float | None = None
    open_now: int = 0
    overdue_now: int = 0


def misses_report(
    misses: Sequence[MissRecord],
    tasks: Sequence[TaskRecord],
    period: tuple[datetime, datetime],
    now: datetime,
    overdue_after_s: float = 3600.0,
) -> MissFigures:
    """`misses`: those of the period; `tasks`: those of its misses and every active one
    (the backlog), however old (tasks closed in the period beside them change nothing
    here). By the miss's time: the tasks created in the period, merged misses, what
    became of those tasks (reached, unreachable, closed otherwise, `worked_share`) however
    late, and their times from the first miss; by now: the backlog. A miss is merged
    when its task existed before it."""
    return misses_of(miss_sums(misses, tasks, period, now, overdue_after_s))


def miss_sums(
    misses: Sequence[MissRecord],
    tasks: Sequence[TaskRecord],
    period: tuple[datetime, datetime],
    now: datetime,
    overdue_after_s: float = 3600.0,
) -> MissSums:
    """The sums of `misses_report`'s records."""
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
    return MissSums(
        misses=len(misses),
        by_reason=dict(Counter(m.reason for m in misses)),
        by_source=dict(Counter(m.source for m in misses)),
        anonymous=sum(1 for m in misses if m.anonymous),
        without_task=sum(1 for m in misses if m.task_id is None),
        tasks_created=len(created),
        merged=merged,
        closed=dict(closed),
        reached=len(reached),
        attempts_connected=sum(t.attempts for t in connected),
        first_attempt_p50_s=percentile(lag, 50),
        reached_p50_s=percentile(reach, 50),
        reached_p90_s=percentile(reach, 90),
        open_now=len(active),
        overdue_now=sum(1 for t in active if _secs(t.due_at, now) > overdue_after_s),
    )


def misses_of(sums: MissSums) -> MissFigures:
    """The misses' figures from their sums, wherever they were taken."""
    closed = Counter(sums.closed)
    other = {k: v for k, v in sorted(closed.items()) if k not in REACHED | {"unreachable"}}
    return MissFigures(
        misses=sums.misses,
        by_reason=dict(sorted(sums.by_reason.items())),
        by_source=dict(sorted(sums.by_source.items())),
        anonymous=sums.anonymous,
        without_task=sums.without_task,
        tasks_created=sums.tasks_created,
        merged=sums.merged,
        reached=sums.reached,
        called_back=closed["connected"],
        called_in=closed["reached_operator"],
        unreachable=closed["unreachable"],
        closed_other=other,
        worked_share=rounded(share(sum(closed.values()), sums.tasks_created), 4),
        first_attempt_p50_s=rounded(sums.first_attempt_p50_s),
        reached_p50_s=rounded(sums.reached_p50_s),
        reached_p90_s=rounded(sums.reached_p90_s),
        attempts_per_success=rounded(share(sums.attempts_connected, closed["connected"]), 2),
        open_now=sums.open_now,
        overdue_now=sums.overdue_now,
    )


def _secs(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds())
