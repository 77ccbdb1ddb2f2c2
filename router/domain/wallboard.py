"""What the wallboard shows, from plain values (pure: the console's page, its live
stream and `GET /api/wallboard` all call `summarise`).

Times are epoch seconds; the page turns `since` values into running clocks itself, so
a snapshot changes only when something happened, not every second.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from router.domain.calls import Outcome
from router.domain.masking import show_number
from router.domain.operators import Presence

DEFAULT_SL_TARGET_S = 20.0
# Rows of waiting callers listed (every caller still counts in the queues' figures): a
# wall screen shows no more, and each snapshot is sent to every open page.
WAITING_ROWS = 100
NO_QUEUE = "(no queue)"


@dataclass(frozen=True, slots=True)
class OperatorInput:
    id: str
    name: str
    presence: Presence
    reason: str | None
    since: float
    calls_today: int
    team: str | None = None
    caller_e164: str | None = None  # the caller they ring for or talk to, if any
    no_answers: int = 0  # calls in a row they let ring out


@dataclass(frozen=True, slots=True)
class WaitingInput:
    call_id: str
    since: float  # when they started waiting
    queue: str | None  # the queue (or skills) they wait for
    pressed: tuple[str, ...]  # menu answers, "menu:key"
    caller_e164: str | None
    line: str | None = None


@dataclass(frozen=True, slots=True)
class CallOfToday:
    """One call that started today (from the store): where it went and how it ended."""

    line: str | None
    outcome: str | None  # None: still live
    wait_s: float | None  # arrival to answer, for answered calls
    queue: str | None = None  # the queue it last waited for, as the board names it
    queue_wait_s: float | None = None  # joining that queue to the answer, for answered calls


@dataclass(frozen=True, slots=True)
class OperatorRow:
    id: str
    name: str
    state: str
    reason: str | None
    since: float
    calls_today: int
    caller: str | None  # masked unless the viewer may see it whole
    no_answers: int = 0


@dataclass(frozen=True, slots=True)
class WaitingRow:
    call_id: str
    position: int  # in its queue's serving order
    since: float
    queue: str
    pressed: tuple[str, ...]
    caller: str


@dataclass(frozen=True, slots=True)
class CallbackCounts:
    open: int = 0
    overdue: int = 0


@dataclass(frozen=True, slots=True)
class QueueRow:
    name: str
    waiting: int
    longest_since: float | None  # the longest waiter's start
    answered: int = 0
    abandoned: int = 0
    missed: int = 0
    service_level: float | None = None  # answered within target / answered + abandoned + missed
    sl_target_s: float = DEFAULT_SL_TARGET_S
    callbacks: CallbackCounts | None = None  # the queue's open and overdue tasks


@dataclass(frozen=True, slots=True)
class Wallboard:
    queues: tuple[QueueRow, ...]
    lines: tuple[QueueRow, ...]  # today's figures per line (calls record the line)
    operators: tuple[OperatorRow, ...]
    waiting: tuple[WaitingRow, ...]  # the first WAITING_ROWS in serving order
    callbacks: CallbackCounts = field(default_factory=CallbackCounts)
    waiting_total: int = 0
    sl_target_s: float = DEFAULT_SL_TARGET_S


_MISSED = frozenset(
    {Outcome.NO_OPERATOR, Outcome.CALLBACK, Outcome.VOICEMAIL, Outcome.FAILED, Outcome.LOST}
)


@runtime_checkable
class DayFigures(Protocol):
    """Today's tallies kept elsewhere (`router.domain.wallboard_today.DayCounts`), in
    `_tally`'s shape: answered, in_target, abandoned, missed per queue or line."""

    def queue_tallies(self, target_of: Callable[[str], float]) -> dict[str, Counter[str]]: ...
    def line_tallies(self, target_s: float) -> dict[str, Counter[str]]: ...


def summarise(
    operators: Iterable[OperatorInput],
    waiting: Iterable[WaitingInput],
    today: Iterable[CallOfToday] | DayFigures = (),
    callbacks: CallbackCounts | None = None,
    *,
    whole_numbers: bool = False,
    sl_target_s: float = DEFAULT_SL_TARGET_S,
    sl_targets: Mapping[str, float] | None = None,
    queue_callbacks: Mapping[str, CallbackCounts] | None = None,
) -> Wallboard:
    """The wallboard. `waiting` in serving order (the waiting room's); numbers masked
    unless `whole_numbers`. Each queue's service level counts from joining the queue,
    against its target in `sl_targets` (by queue name; others `sl_target_s`). `today`:
    the day's calls, or their figures already tallied (`DayFigures`)."""
    waiting_rows = _waiting_rows(waiting, whole_numbers)
    targets = sl_targets or {}

    def target_of(name: str) -> float:
        return targets.get(name, sl_target_s)

    if isinstance(today, DayFigures):
        queue_tallies = today.queue_tallies(target_of)
        line_tallies = today.line_tallies(sl_target_s)
    else:
        calls = list(today)
        queued = ((c.queue, c.outcome, c.queue_wait_s) for c in calls if c.queue is not None)
        queue_tallies = _tally(queued, target_of)
        lines = ((c.line or NO_QUEUE, c.outcome, c.wait_s) for c in calls)
        line_tallies = _tally(lines, lambda _name: sl_target_s)
    return Wallboard(
        queues=_queue_rows(waiting_rows, queue_tallies, target_of, queue_callbacks or {}),
        lines=_line_rows(line_tallies, sl_target_s),
        operators=tuple(
            OperatorRow(
                op.id,
                op.name,
                op.presence.value,
                op.reason,
                op.since,
                op.calls_today,
                _caller(op, whole_numbers),
                op.no_answers,
            )
            for op in sorted(operators, key=lambda o: o.id)
        ),
        waiting=waiting_rows[:WAITING_ROWS],
        callbacks=callbacks or CallbackCounts(),
        waiting_total=len(waiting_rows),
        sl_target_s=sl_target_s,
    )


def _caller(op: OperatorInput, whole: bool) -> str | None:
    if op.presence not in (Presence.RINGING, Presence.ON_CALL) or op.caller_e164 is None:
        return None
    return show_number(op.caller_e164, whole=whole)


def _waiting_rows(waiting: Iterable[WaitingInput], whole: bool) -> tuple[WaitingRow, ...]:
    seen: Counter[str] = Counter()
    rows = []
    for w in waiting:
        queue = w.queue or NO_QUEUE
        seen[queue] += 1
        caller = show_number(w.caller_e164, whole=whole)
        rows.append(WaitingRow(w.call_id, seen[queue], w.since, queue, w.pressed, caller))
    return tuple(rows)


def _queue_rows(
    waiting: Sequence[WaitingRow],
    tallies: Mapping[str, Counter[str]],
    target_of: Callable[[str], float],
    callbacks: Mapping[str, CallbackCounts],
) -> tuple[QueueRow, ...]:
    """A row per queue someone waits in now, or waited in today, or has callback tasks."""
    by_queue: dict[str, list[WaitingRow]] = defaultdict(list)
    for row in waiting:
        by_queue[row.queue].append(row)
    names = sorted(set(by_queue) | set(tallies) | set(callbacks))
    rows = []
    for name in names:
        rows_now = by_queue.get(name, [])
        tally = tallies.get(name, Counter())
        rows.append(
            QueueRow(
                name,
                len(rows_now),
                min((r.since for r in rows_now), default=None),
                tally["answered"],
                tally["abandoned"],
                tally["missed"],
                _level(tally),
                target_of(name),
                callbacks.get(name, CallbackCounts()),
            )
        )
    return tuple(rows)


def _tally(
    calls: Iterable[tuple[str, str | None, float | None]],
    target_of: Callable[[str], float],
) -> dict[str, Counter[str]]:
    """answered / in_target / abandoned / missed per key, from (key, outcome, wait)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for key, outcome, wait_s in calls:
        kind = bucket(outcome)
        if kind is None:
            continue
        tally = counts[key]
        tally[kind] += 1
        if kind == "answered" and wait_s is not None and wait_s <= target_of(key):
            tally["in_target"] += 1
    return dict(counts)


def bucket(outcome: str | None) -> str | None:
    """answered, abandoned or missed (None: still live, or counted nowhere)."""
    if outcome == Outcome.ANSWERED:
        return "answered"
    if outcome == Outcome.ABANDONED:
        return "abandoned"
    if outcome in _MISSED:
        return "missed"
    return None


def _level(tally: Mapping[str, int]) -> float | None:
    offered = tally["answered"] + tally["abandoned"] + tally["missed"]
    return tally["in_target"] / offered if offered else None


def _line_rows(tallies: Mapping[str, Counter[str]], target_s: float) -> tuple[QueueRow, ...]:
    return tuple(
        QueueRow(
            name,
            0,
            None,
            tally["answered"],
            tally["abandoned"],
            tally["missed"],
            _level(tally),
            target_s,
        )
        for name, tally in sorted(tallies.items())
    )


def board_queue(waited_for: str) -> str:
    """The board's name of what a journey's `waiting` event says a call waited for
    (`Wanted.label`: "queue dms", "queue skills dms+paid", "queue skills any",
    "assigned op1", "operator op1"), as the live list names it
    (`router.console.live.queue_label`)."""
    kind, _, rest = waited_for.partition(" ")
    if kind == "queue" and rest:
        return board_queue(rest) if rest.startswith("skills ") else rest
    if kind == "skills" and rest:
        return "skills: " + ("any" if rest == "any" else ", ".join(rest.split("+")))
    if kind in ("assigned", "operator") and rest:
        return f"operator {rest}"
    return waited_for


def last_queue(
    waits: Iterable[tuple[datetime, str]],
) -> tuple[str, datetime] | tuple[None, None]:
    """From a call's `waiting` events `(at, for)` in time order: the queue it waited for
    last (board name) and when it joined it (the first of the last run of waits for it:
    a wait resumed after a restart or a relaxed step keeps its start)."""
    queue: str | None = None
    joined: datetime | None = None
    for at, waited_for in waits:
        name = board_queue(waited_for)
        if name != queue:
            queue, joined = name, at
    if queue is None or joined is None:
        return None, None
    return queue, joined


def call_of_today(
    line: str | None,
    outcome: str | None,
    started_at: datetime,
    answered_at: datetime | None,
    waits: Iterable[tuple[datetime, str]],
) -> CallOfToday:
    """A call as the board counts it, from its row and its `waiting` events in time
    order (the store's rows and the journal as it is written give the same)."""
    queue, joined = last_queue(waits)
    return CallOfToday(
        line,
        outcome,
        (answered_at - started_at).total_seconds() if answered_at else None,
        queue,
        max(0.0, (answered_at - joined).total_seconds()) if answered_at and joined else None,
    )
