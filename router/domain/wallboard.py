"""What the wallboard shows, from plain values (pure: the console's page, its live
stream and `GET /api/wallboard` all call `summarise`).

Times are epoch seconds; the page turns `since` values into running clocks itself, so
a snapshot changes only when something happened, not every second.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

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
class QueueRow:
    name: str
    waiting: int
    longest_since: float | None  # the longest waiter's start
    answered: int = 0
    abandoned: int = 0
    missed: int = 0
    service_level: float | None = None  # answered within target / answered + abandoned + missed


@dataclass(frozen=True, slots=True)
class CallbackCounts:
    open: int = 0
    overdue: int = 0


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


def summarise(
    operators: Iterable[OperatorInput],
    waiting: Iterable[WaitingInput],
    today: Iterable[CallOfToday] = (),
    callbacks: CallbackCounts | None = None,
    *,
    whole_numbers: bool = False,
    sl_target_s: float = DEFAULT_SL_TARGET_S,
) -> Wallboard:
    """The wallboard. `waiting` in serving order (the waiting room's); numbers masked
    unless `whole_numbers`."""
    waiting_rows = _waiting_rows(waiting, whole_numbers)
    return Wallboard(
        queues=_queue_rows(waiting_rows),
        lines=_line_rows(today, sl_target_s),
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


def _queue_rows(waiting: Sequence[WaitingRow]) -> tuple[QueueRow, ...]:
    by_queue: dict[str, list[WaitingRow]] = defaultdict(list)
    for row in waiting:
        by_queue[row.queue].append(row)
    return tuple(
        QueueRow(name, len(rows), min(r.since for r in rows))
        for name, rows in sorted(by_queue.items())
    )


def _line_rows(today: Iterable[CallOfToday], target_s: float) -> tuple[QueueRow, ...]:
    counts: Mapping[str, Counter[str]] = defaultdict(Counter)
    for call in today:
        tally = counts[call.line or NO_QUEUE]
        if call.outcome == Outcome.ANSWERED:
            tally["answered"] += 1
            if call.wait_s is not None and call.wait_s <= target_s:
                tally["in_target"] += 1
        elif call.outcome == Outcome.ABANDONED:
            tally["abandoned"] += 1
        elif call.outcome in _MISSED:
            tally["missed"] += 1
    rows = []
    for name, tally in sorted(counts.items()):
        offered = tally["answered"] + tally["abandoned"] + tally["missed"]
        level = tally["in_target"] / offered if offered else None
        rows.append(
            QueueRow(
                name,
                0,
                None,
                tally["answered"],
                tally["abandoned"],
                tally["missed"],
                level,
            )
        )
    return tuple(rows)

