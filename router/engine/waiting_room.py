"""Every caller who needs an operator waits here; free operators are handed out in one
place, in serving order across all queues (`domain.dispatch.assign`).

A call never picks an operator itself: it registers what it may take and receives an
`OperatorOffer` in its own event queue, with the operator already reserved on the board.
A pass runs when a call starts or changes its wait (a relaxed step) and whenever an
operator becomes available, so a waiting call with an eligible free operator is offered
one within a single pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from statistics import mean
from typing import Any

from router.domain.dispatch import DEFAULT_AGEING_S, WaitingCall, assign, serving_order
from router.domain.operators import OperatorStatus, Presence
from router.engine.board import OperatorBoard

log = logging.getLogger(__name__)

HANDLE_TIMES_KEPT = 50
MIN_HANDLE_TIMES = 5  # fewer talks than this: no wait estimate rather than a silly one


@dataclass(frozen=True, slots=True)
class OperatorOffer:
    """Synthetic event: `operator_id` is reserved for this call; ring them now."""

    operator_id: str

    def channel_ids(self) -> tuple[str, ...]:
        return ()


Notify = Callable[[OperatorOffer], bool]  # False: the call could not take it (gone)


def put_offer(queue: asyncio.Queue[Any], offer: OperatorOffer) -> bool:
    """A `Notify` body: the offer goes into the waiting call's own event queue."""
    try:
        queue.put_nowait(offer)
    except asyncio.QueueFull:
        return False
    return True


def give_back(board: OperatorBoard, event: object) -> None:
    """An offer that reached a call no longer waiting: its operator is free again."""
    if isinstance(event, OperatorOffer):
        board.release(event.operator_id)


class WaitingRoom:
    def __init__(
        self,
        board: OperatorBoard,
        clock: Callable[[], float],
        ageing_s: float = DEFAULT_AGEING_S,
    ) -> None:
        self.board = board
        self.clock = clock
        self.ageing_s = ageing_s
        self._waiting: dict[str, WaitingCall] = {}
        self._notify: dict[str, Notify] = {}
        self._pass_scheduled = False
        self._handle_times: deque[float] = deque(maxlen=HANDLE_TIMES_KEPT)
        self._listeners: list[Callable[[], None]] = []
        board.add_listener(self._on_operator_change)

    def __len__(self) -> int:
        return len(self._waiting)

    def add_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` after a caller joins, is updated or leaves (the wallboard wakes)."""
        self._listeners.append(listener)

    def wait(self, call: WaitingCall, notify: Notify) -> None:
        """Register (or update) a waiting call and give out what is free right now."""
        self._waiting[call.id] = call
        self._notify[call.id] = notify
        self._changed()
        self.dispatch()

    def leave(self, call_id: str) -> None:
        if self._waiting.pop(call_id, None) is not None:
            self._changed()
        self._notify.pop(call_id, None)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def is_waiting(self, call_id: str) -> bool:
        return call_id in self._waiting

    def in_serving_order(self) -> list[WaitingCall]:
        """Who waits, in the order they will be served (the console's wallboard)."""
        return serving_order(self._waiting.values(), self.clock(), self.ageing_s)

    def oldest_since(self, exclude_prefix: str = "") -> float | None:
        """When the longest-waiting call started waiting (ids with the prefix left out)."""
        return min(
            (
                c.since
                for c in self._waiting.values()
                if not (exclude_prefix and c.id.startswith(exclude_prefix))
            ),
            default=None,
        )

    def dispatch(self) -> None:
        """One scheduling pass; offers are reserved on the board before they are sent."""
        self._pass_scheduled = False
        if not self._waiting:
            return
        for call_id, operator_id in assign(
            self._waiting.values(), self.board.available(), self.clock(), self.ageing_s
        ):
            notify = self._notify[call_id]
            self.leave(call_id)
            self.board.reserve(operator_id)
            if not notify(OperatorOffer(operator_id)):
                self.board.release(operator_id)

    def _on_operator_change(self, status: OperatorStatus) -> None:
        # Deferred: the board is mid-change and the listener must not reserve re-entrantly.
        if status.presence is Presence.AVAILABLE and self._waiting and not self._pass_scheduled:
            self._pass_scheduled = True
            asyncio.get_running_loop().call_soon(self.dispatch)

    # -- what a waiting caller is told -----------------------------------------------------

    def position(self, call_id: str) -> int | None:
        """1 + the callers served before this one who compete for the same operators."""
        me = self._waiting.get(call_id)
        if me is None:
            return None
        ahead = 0
        for other in serving_order(self._waiting.values(), self.clock(), self.ageing_s):
            if other.id == call_id:
                return ahead + 1
            if other.eligible & me.eligible:
                ahead += 1
        return None

    def talk_finished(self, seconds: float) -> None:
        self._handle_times.append(seconds)

    def estimated_wait_s(self, call_id: str, position: int | None = None) -> float | None:
        """Position × recent mean handle time ÷ operators who may take the call; None when
        there is too little history or nobody to share the load.

        `position`: the caller's, when the caller already has it (finding it orders
        every waiting call, once per announcement is enough)."""
        me = self._waiting.get(call_id)
        if me is None or len(self._handle_times) < MIN_HANDLE_TIMES:
            return None
        position = position if position is not None else self.position(call_id)
        if position is None:
            return None
        serving = sum(
            1
            for s in self.board.statuses()
            if s.id in me.eligible and s.presence not in (Presence.OFFLINE, Presence.PAUSED)
        )
        if serving == 0:
            return None
        return position * mean(self._handle_times) / serving
