"""A seat in the waiting room, as an inbound call and a callback attempt both take one.

The room never lets a call pick an operator: it reserves one on the board and puts an
`OperatorOffer` into the seat holder's own event queue. Whoever holds the seat either
rings the offered operator or declines the offer, which frees the operator at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from router.domain.dispatch import WaitingCall
from router.engine.board import OperatorBoard
from router.engine.waiting_room import OperatorOffer, WaitingRoom


class Seat:
    """One call's (or callback task's) place in the waiting room and its offers."""

    def __init__(
        self, room: WaitingRoom, board: OperatorBoard, owner_id: str, queue: asyncio.Queue[Any]
    ) -> None:
        self.room = room
        self.board = board
        self.owner_id = owner_id
        self.queue = queue

    def take(self, call: WaitingCall) -> None:
        """Wait (or wait again, with what the call may take now) for an offer."""
        self.room.wait(call, self._offer)

    def taken(self) -> bool:
        return self.room.is_waiting(self.owner_id)

    def leave(self) -> None:
        self.room.leave(self.owner_id)

    def decline(self, event: object) -> None:
        """An offer that reached a holder no longer waiting: its operator is free again
        (any other event is left alone)."""
        if isinstance(event, OperatorOffer):
            self.board.release(event.operator_id)

    def decline_queued(self) -> None:
        """The holder is done: an offer still queued (it came just as the call ended)
        must not leave its operator reserved for nobody."""
        while not self.queue.empty():
            self.decline(self.queue.get_nowait())

    def _offer(self, offer: OperatorOffer) -> bool:
        try:
            self.queue.put_nowait(offer)
        except asyncio.QueueFull:
            return False  # the room offers the operator to someone else
        return True
