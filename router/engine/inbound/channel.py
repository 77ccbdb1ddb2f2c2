"""The caller's channel as every part of the call sees it: one event queue, the ARI
requests on the channel (404: the caller is gone), and the call's journey."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from router.ari import errors as ari_errors
from router.ari.events import ChannelHangupRequest, Event
from router.engine.call_state import CallerGone, ChannelGone, LegAnswered, channel_of, is_terminal
from router.engine.cleanup import hang_up
from router.engine.context import CallContext
from router.engine.moves import MoveRequest
from router.engine.offers import Seat
from router.engine.waiting_room import OperatorOffer

T = TypeVar("T")

SHUTDOWN_CAUSE = 4  # soft hangup cause Asterisk uses when it shuts down or restarts

CallEvent = Event | ChannelGone | LegAnswered | OperatorOffer | MoveRequest


class OperatorOffered(Exception):
    """An operator was offered while the caller was busy with something that gives way
    to their turn (inside `CallerChannel.turn_interrupts`)."""

    def __init__(self, operator_id: str) -> None:
        super().__init__(operator_id)
        self.operator_id = operator_id


class CallerChannel:
    """The caller's channel id, its event queue and its journey."""

    def __init__(self, ctx: CallContext, call_id: str) -> None:
        self.ctx = ctx
        self.id = call_id
        self.queue: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=1024)
        self.seat = Seat(ctx.room, ctx.board, call_id, self.queue)
        self.on_aside: Callable[[object], None] = lambda _event: None
        self._turn_interrupts = False

    def event(self, kind: str, data: dict[str, object]) -> None:
        """One step of the call's journey."""
        self.ctx.recorder_event(self.id, kind, data)

    def ends(self, event: object) -> bool:
        """True when `event` ends the caller's channel; an Asterisk shutdown is raised."""
        if isinstance(event, OperatorOffer):
            return False
        if channel_of(event) != self.id or not is_terminal(event):
            return False
        if isinstance(event, ChannelHangupRequest) and event.soft and event.cause == SHUTDOWN_CAUSE:
            raise CallerGone(event.cause, asterisk_shutdown=True)
        if isinstance(event, ChannelGone) and event.asterisk_gone:
            raise CallerGone(asterisk_shutdown=True)  # a crash: no hang-up request came
        return True

    async def get(self, timeout_s: float | None) -> CallEvent | None:
        """The next event as it is (None when `timeout_s` passes)."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.queue.get()
        except TimeoutError:
            return None

    async def next(self, timeout_s: float | None) -> CallEvent | None:
        """The next event (None when `timeout_s` passes); raises CallerGone when the
        caller hangs up. An offer arriving here is for whoever waits to decide."""
        event = await self.get(timeout_s)
        if event is not None and self.ends(event):
            raise CallerGone(getattr(event, "cause", None))
        return event

    def aside(self, event: object) -> None:
        """An event nobody waits for now: a prompt's end is journaled; an offer is given
        back, or ends what `turn_interrupts` covers (the caller's turn came)."""
        self.on_aside(event)
        if self._turn_interrupts and isinstance(event, OperatorOffer):
            raise OperatorOffered(event.operator_id)
        self.seat.decline(event)

    @contextmanager
    def turn_interrupts(self) -> Iterator[None]:
        """Inside: an operator offered raises OperatorOffered instead of being given back."""
        self._turn_interrupts = True
        try:
            yield
        finally:
            self._turn_interrupts = False

    async def hang_up(self) -> None:
        await hang_up(self.ctx.ari, self.id)

    async def guard(self, request: Awaitable[T]) -> T:
        """Await an ARI request on the caller's channel; 404 means the caller is gone."""
        try:
            return await request
        except ari_errors.AriNotFound:
            raise CallerGone() from None
