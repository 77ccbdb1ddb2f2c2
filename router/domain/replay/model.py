"""The what-if replay: recorded arrivals through simulated operators, on simpy's clock.

Each caller waits where `plan.waits_of` says (the rules' own walk), is offered operators
by the live router's scheduler (`dispatch.assign`: aged priority, arrival order,
`choose_operators`), and gives up when their patience runs out. Operators answer after
delays and talk for times drawn from the period's own history, let a share of rings ring
out as they did, and are on duty as the roster says (looked at again at each moment it
may change). Each operator's calls today are counted as they answer (from their count at
the start, 0 again at each midnight), so a `fewest_calls` queue picks from what they
answered, not as longest idle. Deterministic for a seed.

The result is one `CallRecord` per arrival, so the replay's figures come from the same
`call_figures` as the report of what happened.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import simpy

from router.domain.dispatch import WaitingCall, assign
from router.domain.operators import Operator, OperatorStatus, Presence
from router.domain.replay.plan import Plan, Wait
from router.domain.reports.records import AbandonedWhere, CallRecord, JourneyFacts

# The share of an operator's calls (at least MIN_NEAREST) a talk time is drawn from.
NEAREST = 0.25
MIN_NEAREST = 5


@dataclass(frozen=True, slots=True)
class Duty:
    """Who is on duty when: `on(operator id, seconds from the replay's start)`.
    `changes`: the moments (seconds from the start, ascending) at which anyone's duty may
    change; the replay looks again at each, and only then, so a shift that starts at
    09:30 or a pause from 10:20 to 10:50 takes effect at that second."""

    on: Callable[[str, float], bool]
    changes: tuple[float, ...] = ()

    def __call__(self, operator_id: str, t: float) -> bool:
        return self.on(operator_id, t)


@dataclass(frozen=True, slots=True)
class Arrival:
    id: str
    at_s: float  # seconds after the replay's start
    plan: Plan
    reach_s: float = 0.0  # arrival to the first wait (greeting, menus), as recorded
    patience_s: float = math.inf  # from the start of the first wait
    menu_abandon_s: float | None = None  # hung up in the menus after this long, as recorded
    assigned: str | None = None
    known: bool = False
    line: str | None = None


@dataclass(frozen=True, slots=True)
class OperatorModel:
    operator: Operator
    answer_s: tuple[float, ...] = (3.0,)  # delays to answer, drawn at random
    no_answer: float = 0.0  # share of rings not answered (rang out, rejected)
    unanswered_s: tuple[float, ...] = ()  # how long those rang (none seen: the ring timeout)
    handle_s: tuple[float, ...] = (180.0,)  # talk times, drawn at random
    wrap_up_s: float = 0.0
    # What each caller of `handle_s` had waited, in the same order (ascending); empty: the
    # talk does not depend on the wait (drawn from all of `handle_s`).
    handle_waits_s: tuple[float, ...] = ()

    def talk_s(self, waited_s: float, rnd: random.Random) -> float:
        """A talk time for a caller who waited `waited_s`: drawn from the calls whose
        callers waited about as long (the nearest `NEAREST` share). Where talk does not
        depend on the wait this is the plain draw with a little more noise; where it does
        (a caller with somewhere to be talks less after a long wait; the load harness's
        callers hang up a fixed time after the greeting, talking or not), a draw from all
        calls gives operators the wrong busy time."""
        if len(self.handle_waits_s) != len(self.handle_s):
            return rnd.choice(self.handle_s)
        k = max(MIN_NEAREST, math.ceil(len(self.handle_s) * NEAREST))
        at = bisect_left(self.handle_waits_s, waited_s)
        lo = max(0, min(at - k // 2, len(self.handle_s) - k))
        return rnd.choice(self.handle_s[lo : lo + k])


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    start: datetime
    seed: int = 16
    ring_timeout_s: float = 20.0
    # Each operator's calls today at the start (answered earlier that day; absent: 0), and
    # the moments (seconds from the start) a new day begins, when every count is 0 again.
    calls_today: Mapping[str, int] = field(default_factory=dict)
    new_days_s: tuple[float, ...] = ()


def replay(
    arrivals: Sequence[Arrival],
    operators: Sequence[OperatorModel],
    on_duty: Duty,
    settings: ReplaySettings,
) -> list[CallRecord]:
    """Run the replay to its end; one record per arrival, in arrival order."""
    sim = _Sim(operators, on_duty, settings)
    for arrival in arrivals:
        sim.env.process(sim.caller(arrival))
    sim.env.process(sim.shifts())
    sim.env.process(sim.new_days())
    sim.env.run(until=max((a.at_s for a in arrivals), default=0.0) + 2 * 86400)
    return [sim.records[a.id] for a in arrivals if a.id in sim.records]


class _Sim:
    def __init__(self, ops: Sequence[OperatorModel], on_duty: Duty, cfg: ReplaySettings) -> None:
        self.env = simpy.Environment()
        self.rnd = random.Random(cfg.seed)
        self.cfg, self.on_duty = cfg, on_duty
        self.models = {m.operator.id: m for m in ops}
        today = cfg.calls_today
        self.status = {
            m.operator.id: OperatorStatus(m.operator, calls_today=today.get(m.operator.id, 0))
            for m in ops
        }
        self.busy: set[str] = set()
        self.waiting: dict[str, tuple[WaitingCall, simpy.Event]] = {}
        self.records: dict[str, CallRecord] = {}

    # -- operators --------------------------------------------------------------------

    def shifts(self) -> Generator[simpy.Event, Any, None]:
        """Operators come on and go off duty when the roster or the history says."""
        changes = iter(self.on_duty.changes)
        while True:
            now = self.env.now
            for op_id, status in self.status.items():
                duty = self.on_duty(op_id, now)
                if duty and status.presence is Presence.OFFLINE and op_id not in self.busy:
                    self._set(op_id, Presence.AVAILABLE)
                elif not duty and status.presence is Presence.AVAILABLE:
                    self._set(op_id, Presence.OFFLINE)
            self.dispatch()
            later = next((t for t in changes if t > now), None)
            if later is None:
                return
            yield self.env.timeout(later - now)

    def new_days(self) -> Generator[simpy.Event, Any, None]:
        """A new day: everyone's calls today start from 0 again."""
        for at in self.cfg.new_days_s:
            if at < self.env.now:
                continue
            yield self.env.timeout(at - self.env.now)
            for status in self.status.values():
                status.calls_today = 0

    def _set(self, op_id: str, presence: Presence) -> None:
        status = self.status[op_id]
        idle = self.env.now if presence is Presence.AVAILABLE else status.idle_since
        self.status[op_id] = replace(status, presence=presence, idle_since=idle)

    def release(self, op_id: str, after_s: float) -> Generator[simpy.Event, Any, None]:
        """The operator is free again after `after_s` (wrap-up or a ring let ring out)."""
        yield self.env.timeout(after_s)
        self.busy.discard(op_id)
        on = self.on_duty(op_id, self.env.now)
        self._set(op_id, Presence.AVAILABLE if on else Presence.OFFLINE)
        self.dispatch()

    def dispatch(self) -> None:
        """One pass of the live router's scheduler over the callers now waiting."""
        calls = [call for call, _ in self.waiting.values()]
        for call_id, op_id in assign(calls, self.status.values(), self.env.now):
            _, offered = self.waiting.pop(call_id)
            self.busy.add(op_id)
            self._set(op_id, Presence.RINGING)
            offered.succeed(op_id)

    # -- callers ----------------------------------------------------------------------

    def caller(self, a: Arrival) -> Generator[simpy.Event, Any, None]:
        env = self.env
        yield env.timeout(a.at_s)
        rec = _Record(a, self.cfg.start + timedelta(seconds=a.at_s))
        if a.menu_abandon_s is not None:
            yield env.timeout(a.menu_abandon_s)
            self.records[a.id] = rec.done(self._at(), "abandoned", where="menu")
            return
        yield env.timeout(a.reach_s)
        if not a.plan.waits:  # straight to the rules' end ("call me back"): never waited
            self.records[a.id] = rec.done(self._at(), a.plan.end)
            return
        rec.waiting_at = self._at()
        gives_up = env.now + a.patience_s
        tried: set[str] = set()
        for wait in a.plan.waits:
            rec.queue = rec.queue or wait.label
            result = yield from self._wait(a, wait, gives_up, tried, rec)
            if result is not None:
                self.records[a.id] = result
                return
        self.records[a.id] = rec.done(self._at(), a.plan.end)

    def _wait(
        self, a: Arrival, wait: Wait, gives_up: float, tried: set[str], rec: _Record
    ) -> Generator[simpy.Event, Any, CallRecord | None]:
        """Wait in one queue (or for one manager); a record once the call has ended."""
        env, started = self.env, self.env.now
        while True:
            waited = env.now - started
            eligible = wait.eligible_at(waited) - tried
            later = wait.changes_after(waited)
            if not eligible and later is None:
                return None  # nobody left to try: on to the rules' next step
            offered = env.event()
            call = WaitingCall(a.id, wait.priority, rec.since(started), frozenset(eligible),
                               a.assigned, wait.strategy, wait.skills)  # fmt: skip
            self.waiting[a.id] = (call, offered)
            self.dispatch()
            wake = min(started + wait.max_wait_s, gives_up, started + (later or math.inf))
            yield offered | env.timeout(max(0.0, wake - env.now))
            if not offered.triggered:
                self.waiting.pop(a.id, None)
                if env.now >= gives_up:
                    return rec.done(self._at(), "abandoned", where="waiting")
                if env.now >= started + wait.max_wait_s:
                    return None
                continue
            op_id = str(offered.value)
            tried.add(op_id)
            ended = yield from self._ring(op_id, gives_up, rec)
            if ended is not None:
                return ended

    def _ring(
        self, op_id: str, gives_up: float, rec: _Record
    ) -> Generator[simpy.Event, Any, CallRecord | None]:
        env, model = self.env, self.models[op_id]
        rec.first_ring_at = rec.first_ring_at or self._at()
        answers = self.rnd.random() >= model.no_answer
        if answers:
            ringing = self.rnd.choice(model.answer_s)
        else:  # a reject takes a second, a ring out the whole timeout: as they did
            ringing = self.rnd.choice(model.unanswered_s or (self.cfg.ring_timeout_s,))
        if gives_up - env.now < ringing:  # the caller hangs up while it rings
            yield env.timeout(max(0.0, gives_up - env.now))
            env.process(self.release(op_id, 0.0))
            return rec.done(self._at(), "abandoned", where="ringing")
        yield env.timeout(ringing)
        if not answers:
            env.process(self.release(op_id, 0.0))
            return None
        self._set(op_id, Presence.ON_CALL)
        self.status[op_id].calls_today += 1  # as the live board counts: at the answer
        answered = self._at()
        waited = env.now - rec.arrival.at_s - rec.arrival.reach_s
        yield env.timeout(model.talk_s(waited, self.rnd))
        env.process(self.release(op_id, model.wrap_up_s))
        return rec.done(self._at(), "answered", operator=op_id, answered=answered)

    def _at(self) -> datetime:
        return self.cfg.start + timedelta(seconds=self.env.now)


@dataclass(slots=True)
class _Record:
    arrival: Arrival
    started_at: datetime
    waiting_at: datetime | None = None
    first_ring_at: datetime | None = None
    queue: str | None = None

    def since(self, fallback_s: float) -> float:
        """The place in line: the start of the first wait, kept across queues and rings."""
        if self.waiting_at is None:
            return fallback_s
        return self.arrival.at_s + (self.waiting_at - self.started_at).total_seconds()

    def done(
        self,
        at: datetime,
        outcome: str,
        *,
        where: AbandonedWhere | None = None,
        operator: str | None = None,
        answered: datetime | None = None,
    ) -> CallRecord:
        facts = JourneyFacts(self.queue, self.waiting_at, self.first_ring_at, False, where)
        a = self.arrival
        return CallRecord(a.id, self.started_at, outcome, a.line, answered, at, operator, a.known,
                          facts)  # fmt: skip
