"""The live engine as the console sees it: operators, waiting callers, calls ringing.

Reads the board, the waiting room and the live calls (never changes them) and turns
them into the plain inputs of `router.domain.wallboard`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from router.domain.dispatch import PERSONAL, WaitingCall
from router.domain.miss_target import MissTarget
from router.domain.operators import Presence
from router.domain.wallboard import OperatorInput, WaitingInput
from router.engine.board import OperatorBoard
from router.engine.waiting_room import WaitingRoom


class LiveCall(Protocol):
    """What the console reads of an inbound call (`router.engine.inbound.call.InboundCall`)."""

    @property
    def id(self) -> str: ...
    @property
    def caller_e164(self) -> str | None: ...
    @property
    def menu_path(self) -> list[str]: ...
    @property
    def operator_id(self) -> str | None: ...  # set once an operator answered
    @property
    def tried(self) -> list[str]: ...  # operators rung, the one ringing now last
    @property
    def operator_channel(self) -> str | None: ...  # the answered operator's leg
    @property
    def patient_id(self) -> str | None: ...
    @property
    def miss_target(self) -> MissTarget | None: ...


@dataclass(frozen=True)
class LiveSource:  # not slotted: cached_property keeps the clock offset
    board: OperatorBoard
    room: WaitingRoom
    calls: Callable[[], Iterable[LiveCall]]
    epoch: Callable[[], float]  # wall clock, for the page
    mono: Callable[[], float]  # the waiting room's clock

    @cached_property
    def clock_offset(self) -> float:
        """Wall clock minus the room's clock, taken once: taken per snapshot, its jitter
        would make every snapshot differ and each be sent to every page."""
        return round(self.epoch() - self.mono(), 3)

    def operators(self, calls: Mapping[str, LiveCall] | None = None) -> list[OperatorInput]:
        """Every operator's state; `calls`: `calls_by_operator()` when already taken."""
        by_operator = self.calls_by_operator() if calls is None else calls
        return [
            OperatorInput(
                s.id,
                s.operator.name,
                s.presence,
                s.reason,
                s.since,
                s.calls_today,
                s.operator.team,
                _number(by_operator.get(s.id)),
                s.no_answers,
            )
            for s in self.board.statuses()
        ]

    def calls_by_operator(self) -> dict[str, LiveCall]:
        """The call each operator talks to, or is being rung for right now."""
        found: dict[str, LiveCall] = {}
        for call in self.calls():
            if call.operator_id:
                found[call.operator_id] = call
            elif call.tried and self._ringing(call.tried[-1]):
                found[call.tried[-1]] = call
        return found

    def ringing_call(self, operator_id: str) -> LiveCall | None:
        if not self._ringing(operator_id):
            return None
        for call in self.calls():
            if call.operator_id is None and call.tried and call.tried[-1] == operator_id:
                return call
        return None

    def _ringing(self, operator_id: str) -> bool:
        return self.board.has(operator_id) and (
            self.board.get(operator_id).presence is Presence.RINGING
        )

    def waiting(self) -> list[WaitingInput]:
        """Callers waiting for an operator, in serving order (callback attempts waiting
        for an operator of their own are not callers and are left out)."""
        live = {call.id: call for call in self.calls()}
        offset = self.clock_offset
        found = []
        for waiting in self.room.in_serving_order():
            call = live.get(waiting.id)
            if call is None:
                continue
            target = call.miss_target
            found.append(
                WaitingInput(
                    call.id,
                    waiting.since + offset,
                    _person_waited_for(waiting) or queue_label(target),
                    tuple(call.menu_path),
                    call.caller_e164,
                    target.line if target else None,
                )
            )
        return found


def _person_waited_for(waiting: WaitingCall) -> str | None:
    """ "operator X" while the caller waits for that one person (their manager, a named
    operator of the rules, or one a supervisor moved them to). The call's miss target
    keeps the queue it came from (where it goes back to), so only the room's entry says
    who it waits for now: a personal wait has the PERSONAL priority and one operator."""
    if waiting.priority >= PERSONAL and len(waiting.eligible) == 1:
        return f"operator {next(iter(waiting.eligible))}"
    return None


def _number(call: LiveCall | None) -> str | None:
    return None if call is None else call.caller_e164


def queue_label(target: MissTarget | None) -> str | None:
    """The queue (or skills, or person) a call waits for, as the pages name it."""
    if target is None:
        return None
    if target.queue:
        return target.queue
    if target.skills is not None:
        return "skills: " + (", ".join(target.skills) or "any")
    return target.operator and f"operator {target.operator}"
