"""A supervisor moves a waiting caller to another queue or to a named operator.

The console does not touch the call: it puts a `MoveRequest` into the call's own event
queue (as the waiting room puts an `OperatorOffer`), and the call's coroutine, while it
waits, stops waiting where it is and waits for the new target instead, keeping its
place in line (the time it first started waiting). A request reaching a call that is
not waiting (being rung for an operator, talking, in a menu) is ignored by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from router.domain.routing import OperatorTarget, QueueTarget, Target

# How long a caller moved to a named operator waits for them before going back to what
# they waited for before the move.
OPERATOR_WAIT_S = 120


@dataclass(frozen=True, slots=True)
class MoveRequest:
    """Synthetic event: wait for `queue` (a queue of the rules) or `operator` instead."""

    by: str  # who asked (the console user), for the journey
    queue: str | None = None
    operator: str | None = None
    wait_s: int = OPERATOR_WAIT_S

    def channel_ids(self) -> tuple[str, ...]:
        return ()


Mover = Callable[[str, MoveRequest], bool]  # call id, request -> handed to a waiting call


def move_target(
    request: MoveRequest,
    *,
    queues: Collection[str],
    on_board: Callable[[str], bool],
    tried: Collection[str],
    back_to: Target,
) -> Target | str:
    """The target a waiting call follows after `request`, or why it cannot (a str).
    `back_to`: what the caller waits for now; a caller moved to an operator who does not
    answer within the wait goes back to it."""
    if request.queue is not None:
        if request.queue not in queues:
            return f"no queue {request.queue!r} in the rules the call follows"
        return QueueTarget(request.queue)
    op = request.operator
    if op is None:
        return "neither a queue nor an operator"
    if not on_board(op):
        return f"no operator {op!r}"
    if op in tried:
        return f"{op} was already rung for this caller"
    return OperatorTarget(op, request.wait_s, back_to)


def put_move(queue: asyncio.Queue[Any], request: MoveRequest) -> bool:
    try:
        queue.put_nowait(request)
    except asyncio.QueueFull:
        return False
    return True
