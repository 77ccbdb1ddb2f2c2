"""Today's figures kept as calls end, so the wallboard never re-reads the day (pure).

`DayCounts` holds the day's finished calls and their tallies per queue and per line;
a call put again (its outcome recorded twice, or a rebuild from the store) replaces
its earlier self, so it is never counted twice. `CallsOfToday` follows the live calls
from what the router journals (a call's start, its `waiting` events, its answer and
outcome) and hands each finished call to the counts. A frame then costs the number of
queues and lines, not the number of calls the clinic had today.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from router.domain.wallboard import NO_QUEUE, CallOfToday, bucket, call_of_today


@dataclass
class _Tally:
    answered: int = 0
    abandoned: int = 0
    missed: int = 0
    waits: list[float] = field(default_factory=list)  # answered calls' waits, sorted

    def change(self, kind: str, wait_s: float | None, by: int) -> None:
        setattr(self, kind, getattr(self, kind) + by)
        if kind != "answered" or wait_s is None:
            return
        if by > 0:
            insort(self.waits, wait_s)
        else:
            del self.waits[bisect_right(self.waits, wait_s) - 1]

    def counter(self, target_s: float) -> Counter[str]:
        """The shape `router.domain.wallboard` reads: answered, in_target, abandoned, missed."""
        return Counter(
            answered=self.answered,
            in_target=bisect_right(self.waits, target_s),
            abandoned=self.abandoned,
            missed=self.missed,
        )


def _change(tallies: dict[str, _Tally], key: str, kind: str, wait_s: float | None, by: int) -> None:
    tally = tallies.setdefault(key, _Tally())
    tally.change(kind, wait_s, by)
    if not (tally.answered or tally.abandoned or tally.missed):
        del tallies[key]  # a queue no call is counted in any more has no row


class DayCounts:
    """The day's finished calls, tallied per queue and per line as they come."""

    def __init__(self, calls: Mapping[str, CallOfToday] | None = None) -> None:
        self._calls: dict[str, CallOfToday] = {}
        self._queues: dict[str, _Tally] = {}
        self._lines: dict[str, _Tally] = {}
        for call_id, call in (calls or {}).items():
            self.put(call_id, call)

    def __len__(self) -> int:
        return len(self._calls)

    def calls(self) -> dict[str, CallOfToday]:
        return dict(self._calls)

    def put(self, call_id: str, call: CallOfToday) -> bool:
        """Count a finished call (replacing what was counted for it); True if it changed
        the figures. A call without an outcome is not finished and is left out."""
        old = self._calls.get(call_id)
        if old == call or call.outcome is None:
            return False
        if old is not None:
            self._apply(old, -1)
        self._calls[call_id] = call
        self._apply(call, +1)
        return True

    def _apply(self, call: CallOfToday, by: int) -> None:
        kind = bucket(call.outcome)
        if kind is None:
            return
        if call.queue is not None:
            _change(self._queues, call.queue, kind, call.queue_wait_s, by)
        _change(self._lines, call.line or NO_QUEUE, kind, call.wait_s, by)

    def queue_tallies(self, target_of: Callable[[str], float]) -> dict[str, Counter[str]]:
        return {name: t.counter(target_of(name)) for name, t in self._queues.items()}

    def line_tallies(self, target_s: float) -> dict[str, Counter[str]]:
        return {name: t.counter(target_s) for name, t in self._lines.items()}


@dataclass
class _Live:
    started_at: datetime
    line: str | None
    answered_at: datetime | None = None
    waits: list[tuple[datetime, str]] = field(default_factory=list)


class CallsOfToday:
    """Today's figures from the journal: live calls followed, finished ones counted.

    `midnight` starts the day (the clinic's); calls that started before it are not
    the day's. `stale` says a call ended that was never seen starting (a call adopted
    after a restart, or journaled before this was listening): the store must be read.
    """

    def __init__(self, midnight: datetime) -> None:
        self.midnight = midnight
        self.counts = DayCounts()
        self.stale = True  # nothing read from the store yet
        self._live: dict[str, _Live] = {}

    def started(self, call_id: str, started_at: datetime, line: str | None) -> None:
        self._live.setdefault(call_id, _Live(started_at, line))

    def waited(self, call_id: str, at: datetime, waited_for: str) -> None:
        live = self._live.get(call_id)
        if live is not None:
            live.waits.append((at, waited_for))

    def updated(self, call_id: str, fields: Mapping[str, object]) -> bool:
        """A change to a call's row; True when the day's figures changed."""
        live = self._live.get(call_id)
        if live is None:
            self.stale = self.stale or isinstance(fields.get("outcome"), str)
            return False
        line, answered = fields.get("line"), fields.get("answered_at")
        if isinstance(line, str):
            live.line = line
        if isinstance(answered, datetime):
            live.answered_at = answered
        outcome = fields.get("outcome")
        if not isinstance(outcome, str):
            return False
        del self._live[call_id]
        if live.started_at < self.midnight:
            return False
        call = call_of_today(live.line, outcome, live.started_at, live.answered_at, live.waits)
        return self.counts.put(call_id, call)

    def new_day(self, midnight: datetime) -> None:
        """The clinic's day turned: yesterday's figures go, the store is to be read."""
        self.midnight = midnight
        self.counts = DayCounts()
        self._live = {k: v for k, v in self._live.items() if v.started_at >= midnight}
        self.stale = True

    def rebuilt(self, stored: Mapping[str, CallOfToday], keep_finished: bool = True) -> None:
        """The day's finished calls as the store has them; with `keep_finished`, calls
        finished here whose writes have not landed yet are kept (the journal is written
        behind)."""
        kept = self.counts.calls() if keep_finished else {}
        self.counts = DayCounts({**stored, **kept})
        self.stale = False
