"""What every part of a call's coroutine shares: its state, its event queue, the journal.

The call is split by concern (this base, media in `call_media.py`, operators in
`call_operators.py`, the route walk in `call_walk.py`, the life cycle in `call.py`), but
it stays one object and one coroutine reading one queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from router.ari import errors as ari_errors
from router.ari.events import ChannelHangupRequest, Event, PlaybackFinished
from router.domain.calls import Outcome
from router.engine.call_state import (
    BRIDGE_PREFIX,
    CallerGone,
    ChannelGone,
    LegAnswered,
    Resume,
    channel_of,
    is_terminal,
)
from router.engine.cleanup import hang_up
from router.engine.context import CallContext
from router.engine.moves import MoveRequest
from router.engine.waiting_room import OperatorOffer, give_back

T = TypeVar("T")

SHUTDOWN_CAUSE = 4  # soft hangup cause Asterisk uses when it shuts down or restarts

CallEvent = Event | ChannelGone | LegAnswered | OperatorOffer | MoveRequest


class CallBase:
    """One caller channel, the operator legs it originates, and what the IVR learned."""

    def __init__(
        self,
        ctx: CallContext,
        call_id: str,
        did: str,
        caller_raw: str,
        resume: Resume | None = None,
    ) -> None:
        self.ctx = ctx
        self.id = call_id
        self.did = did
        self.caller_raw = caller_raw
        self.queue: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=1024)
        self.resume = resume
        self.tried: list[str] = list(resume.tried) if resume else []
        self.bridge_id = f"{BRIDGE_PREFIX}{call_id}"
        self.operator_channel: str | None = resume.bridged_with if resume else None
        self.operator_id: str | None = resume.operator_id if resume else None
        self.patient_id: str | None = resume.patient_id if resume else None
        # Only a validated number reaches an operator's display; set once per call.
        self.caller_e164: str | None = resume.caller_e164 if resume else None
        self.outcome: Outcome | None = None
        self.started_at = ctx.clock()
        self.rules = ctx.rules()  # the version the call started with routes it to the end
        self.line = self.rules.line_for(did)  # None: a number no line lists
        self.menu_path: list[str] = []  # "menu:key" answers, for the journey
        self._handed_to_fallback = False
        self.playback_id: str | None = None  # the caller's running channel playback
        self.playback_media = ""
        self._bridge_ready = False
        # A bridge create was sent: its reply may be lost while Asterisk still makes it.
        self._bridge_asked = False
        self._live_legs: set[str] = set()
        # The operator whose phone rings for this call right now (a reconnect must not
        # take them for someone else).
        ring = resume.ringing if resume else None
        self.ringing_operator: str | None = ring.operator_id if ring else None
        if ring is not None:
            self._live_legs.add(ring.leg)

    def record_new(self) -> None:
        """The call's row in the journal (at arrival, or found with no row on reconnect)."""
        line = self.line.id if self.line else None
        self.ctx.recorder_create(self.id, self.caller_raw, self.did, line)

    def legs(self) -> frozenset[str]:
        """The operator legs this call owns now (ringing, or talking)."""
        return frozenset(self._live_legs)

    def _event(self, kind: str, data: dict[str, object]) -> None:
        self.ctx.recorder_event(self.id, kind, data)

    def _is_caller_end(self, event: CallEvent) -> bool:
        if isinstance(event, OperatorOffer):
            return False
        if channel_of(event) != self.id or not is_terminal(event):
            return False
        if isinstance(event, ChannelHangupRequest) and event.soft and event.cause == SHUTDOWN_CAUSE:
            raise CallerGone(event.cause, asterisk_shutdown=True)
        return True

    async def _next(self, timeout: float | None) -> CallEvent | None:
        """The next event for this call (None when `timeout` passes); raises CallerGone
        when the caller hangs up. An offer arriving here is handled by whoever waits."""
        try:
            async with asyncio.timeout(timeout):
                event = await self.queue.get()
        except TimeoutError:
            return None
        if self._is_caller_end(event):
            raise CallerGone(getattr(event, "cause", None))
        return event

    async def _guard(self, request: Awaitable[T]) -> T:
        """Await an ARI request on the caller's channel; 404 means the caller is gone."""
        try:
            return await request
        except ari_errors.AriNotFound:
            raise CallerGone() from None

    async def _hangup(self, channel_id: str) -> None:
        await hang_up(self.ctx.ari, channel_id)
        self._live_legs.discard(channel_id)

    def _note_playback_end(self, event: CallEvent) -> None:
        if isinstance(event, PlaybackFinished) and event.playback.id == self.playback_id:
            self.playback_id = None
            # What the caller heard, as Asterisk reports it (a missing file shows "failed").
            self._event("played", {"media": self.playback_media, "state": event.playback.state})

    def _decline_offer(self, event: CallEvent) -> None:
        """An offer that came while the call was doing something else: give it back."""
        give_back(self.ctx.board, event)

    def _release_pending_offers(self) -> None:
        """The call is over: an offer still queued (it came just as the caller hung up)
        must not leave its operator reserved for nobody."""
        while not self.queue.empty():
            self._decline_offer(self.queue.get_nowait())
