"""Live operator presence: who may be offered a call right now.

All changes happen on the event loop without awaiting between "choose" and "reserve",
so two calls can never reserve the same operator (no locks needed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from router.domain.calls import RingResult
from router.domain.operators import Operator, OperatorStatus, Presence, PresenceChange
from router.domain.presence import (
    HELD_BY_A_CALL,
    NO_ANSWER_REASON,
    after_call,
    after_ring,
    decide_request,
)
from router.domain.selection import choose_operators

log = logging.getLogger(__name__)

StateListener = Callable[[OperatorStatus], None]


class UnknownOperator(KeyError):
    pass


class OperatorBoard:
    """Operators' live state, in memory; every change is reported to `on_change`."""

    def __init__(self, clock: Callable[[], float], on_change: StateListener | None = None) -> None:
        self._clock = clock
        self._statuses: dict[str, OperatorStatus] = {}
        self._listeners: list[StateListener] = [on_change] if on_change else []
        self._retired: set[str] = set()

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def _changed(self, status: OperatorStatus) -> None:
        for listener in self._listeners:
            listener(status)

    def load(self, statuses: Iterable[OperatorStatus]) -> None:
        for status in statuses:
            self._statuses[status.id] = status

    def update_config(self, operators: Sequence[Operator]) -> None:
        """Apply a new operator list (rules reload); live state is kept."""
        seen = set()
        for op in operators:
            seen.add(op.id)
            current = self._statuses.get(op.id)
            if current is None:
                # A new operator is on duty until someone says otherwise (as at start-up).
                now = self._clock()
                fresh = OperatorStatus(op, Presence.AVAILABLE, since=now, idle_since=now)
                self._statuses[op.id] = fresh
                self._changed(fresh)
            else:
                current.operator = op
        self._retired -= seen  # re-added by this reload: stays
        for op_id in list(self._statuses):
            if op_id in seen:
                continue
            if self._statuses[op_id].presence in (Presence.ON_CALL, Presence.RINGING):
                self._retired.add(op_id)  # removed from the rules: leaves after this call
            else:
                del self._statuses[op_id]

    def statuses(self) -> list[OperatorStatus]:
        return sorted(self._statuses.values(), key=lambda s: s.id)

    def available(self) -> list[OperatorStatus]:
        """Available operators, unsorted (the waiting room orders them itself)."""
        return [s for s in self._statuses.values() if s.presence is Presence.AVAILABLE]

    def has(self, operator_id: str) -> bool:
        return operator_id in self._statuses

    def get(self, operator_id: str) -> OperatorStatus:
        try:
            return self._statuses[operator_id]
        except KeyError:
            raise UnknownOperator(operator_id) from None

    def by_endpoint(self, endpoint: str) -> OperatorStatus | None:
        for status in self._statuses.values():
            if status.operator.endpoint.lower() == endpoint.lower():
                return status
        return None

    def candidates(
        self, *, assigned_id: str | None, exclude: Iterable[str]
    ) -> list[OperatorStatus]:
        return choose_operators(
            self._statuses.values(), assigned_id=assigned_id, exclude=set(exclude)
        )

    def set(
        self, operator_id: str, presence: Presence, reason: str | None = None
    ) -> OperatorStatus:
        status = self.get(operator_id)
        now = self._clock()
        if presence is Presence.AVAILABLE and status.presence not in (
            Presence.AVAILABLE,
            Presence.RINGING,
        ):
            status.idle_since = now
        if presence is Presence.AVAILABLE and status.presence is Presence.PAUSED:
            status.no_answers = 0  # back from a pause: a fresh start
        status.presence = presence
        status.reason = reason
        status.since = now
        self._changed(status)
        return status

    def request_state(
        self, operator_id: str, presence: Presence, reason: str | None = None
    ) -> OperatorStatus:
        """The one way an operator or an admin changes an operator's state: the HTTP API,
        the feature codes and the console all come here. Applied at once, or, while a call
        holds the operator, kept as `pending` until it lets go (domain/presence.py).
        Raises UnknownOperator, and ValueError for a state only the router sets."""
        status = self.get(operator_id)
        decision = decide_request(status.presence, PresenceChange(presence, reason))
        if decision.now is not None:
            status.pending = None
            return self.set(operator_id, decision.now.presence, decision.now.reason)
        if status.pending != decision.pending:
            status.pending = decision.pending
            self._changed(status)
        return status

    def _let_go(self, status: OperatorStatus, wrap_up_s: float = 0.0) -> Presence:
        """A call no longer holds the operator: what they asked for meanwhile, else
        wrap-up or available."""
        then = after_call(status.pending, wrap_up_s)
        status.pending = None
        self.set(status.id, then.presence, then.reason)
        return then.presence

    def reserve(self, operator_id: str) -> None:
        """Mark an operator as being rung; they will not be chosen by another call."""
        status = self.get(operator_id)
        if status.presence is not Presence.AVAILABLE:
            raise RuntimeError(f"operator {operator_id} is {status.presence}, not available")
        self.set(operator_id, Presence.RINGING)

    def release(self, operator_id: str) -> None:
        """A reservation not used (the call left first): available again, place kept."""
        self._ring_over(operator_id, keep_place=True)

    def ring_failed(self, operator_id: str) -> None:
        """A ring attempt ended without an answer: back to the pool, but behind the others,
        so a phone nobody picks up is not the first one rung for every next caller."""
        if operator_id in self._retired:
            self._retired.discard(operator_id)
            self._statuses.pop(operator_id, None)
            return
        self._ring_over(operator_id, keep_place=False)

    def _ring_over(self, operator_id: str, *, keep_place: bool) -> None:
        """A ring ended without a call: the state asked for meanwhile, else available
        (behind the others unless `keep_place`)."""
        status = self._statuses.get(operator_id)
        if status is None or status.presence is not Presence.RINGING:
            return
        if status.pending is not None:
            self._let_go(status)
            return
        status.presence = Presence.AVAILABLE
        if not keep_place:
            status.since = status.idle_since = self._clock()
        self._changed(status)

    def ring_result(self, operator_id: str, result: RingResult, pause_after: int) -> bool:
        """Apply the no-answer policy; True when the operator was paused for it."""
        status = self._statuses.get(operator_id)
        if status is None:
            return False
        outcome = after_ring(status.no_answers, result, pause_after)
        changed = outcome.no_answers != status.no_answers
        status.no_answers = outcome.no_answers
        if outcome.pause and status.presence is Presence.AVAILABLE:
            self.set(operator_id, Presence.PAUSED, NO_ANSWER_REASON)
            return True
        if changed:
            self._changed(status)
        return False

    def connected(self, operator_id: str) -> None:
        status = self.get(operator_id)
        status.calls_today += 1
        self.set(operator_id, Presence.ON_CALL)

    def finished(self, operator_id: str, wrap_up_s: float, schedule: Callable[..., object]) -> None:
        """The call ended: the state asked for during it, else wrap-up, then available
        again by itself."""
        if operator_id not in self._statuses:
            return
        if operator_id in self._retired:
            self._retired.discard(operator_id)
            del self._statuses[operator_id]
            return
        if self._let_go(self._statuses[operator_id], wrap_up_s) is Presence.WRAP_UP:
            schedule(wrap_up_s, self._wrap_up_over, operator_id)

    def call_gone(self, operator_id: str) -> None:
        """Reconcile found no call holding a `ringing`/`on_call` operator any more (it
        ended while the router was away): what they asked for meanwhile, else available."""
        status = self._statuses.get(operator_id)
        if status is not None and status.presence in HELD_BY_A_CALL:
            self._let_go(status)

    def _wrap_up_over(self, operator_id: str) -> None:
        status = self._statuses.get(operator_id)
        if status is not None and status.presence is Presence.WRAP_UP:
            self.set(operator_id, Presence.AVAILABLE)
