"""Ringing a phone for a call: one part, used by the inbound call (its operators) and by
the callback attempt (the operator, then the patient).

Asterisk facts this relies on (docs/dev/asterisk-behaviour.md §5):
- An originated leg enters Stasis (StasisStart) only when answered.
- `ChannelDestroyed` is the only end-of-leg event that always comes; busy, rejected and
  rung-out legs are told apart by its cause (a ring timeout gives cause 19, no Dial
  NOANSWER). Our own timeout is only a safety net behind Asterisk's.
- A 500 "Allocation failed" to the originate: the endpoint cannot be dialled at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from router.ari import errors as ari_errors
from router.ari.events import ChannelDestroyed, StasisStart
from router.domain.calls import RingResult, ring_result_from_cause
from router.engine.call_state import LEG_MARK, ChannelGone, LegAnswered, channel_of
from router.engine.cleanup import hang_up
from router.engine.context import CallContext, EventSink

SAFETY_S = 10.0  # past Asterisk's own ring timeout before we give up on a leg ourselves
# The originate was refused: nothing rings (a lost reply is not a refusal: the leg may
# exist, and the owner decides what that costs).
REFUSED = (ari_errors.AriServerError, ari_errors.AriBadRequest, ari_errors.AriNotFound)


class Legs:
    """The channels a call or an attempt created in Asterisk, attached to it so that
    their events reach its queue from the first one on."""

    def __init__(self, ctx: CallContext, owner: EventSink) -> None:
        self.ctx = ctx
        self.owner = owner
        self._live: set[str] = set()
        self._originating: set[str] = set()

    def __contains__(self, leg: object) -> bool:
        return leg in self._live

    def all(self) -> frozenset[str]:
        return frozenset(self._live)

    def created(self) -> frozenset[str]:
        """Legs Asterisk has created (not those whose originate is still under way)."""
        return frozenset(self._live - self._originating)

    def add(self, leg: str) -> None:
        self._live.add(leg)
        self.ctx.attach(leg, self.owner)

    def originating(self, leg: str) -> None:
        self._originating.add(leg)

    def originated(self, leg: str) -> None:
        self._originating.discard(leg)

    def ended(self, leg: str) -> None:
        """The leg is gone from Asterisk: stop owning it."""
        self._live.discard(leg)
        self.ctx.detach(leg)

    async def hang_up(self, leg: str) -> None:
        if leg in self._live:
            await hang_up(self.ctx.ari, leg)
        self.ended(leg)

    def let_go(self) -> None:
        """Stop watching every leg without touching Asterisk (the router stops)."""
        for leg in list(self._live):
            self.ended(leg)


class LegEvents(Protocol):
    """The owner's event queue, as a ring reads it."""

    async def get(self, timeout_s: float) -> object | None:
        """The next event; None when `timeout_s` passes."""

    def ends(self, event: object) -> bool:
        """True when the event ends what the ring is for (the caller hung up, the
        operator waiting for the patient left)."""

    def aside(self, event: object) -> None:
        """An event the ring does not wait for (an offer to give back, a prompt's end)."""


class RingJournal(Protocol):
    """Where each ring is written: the call's journey and `ring_attempts`, or the callback
    attempt's log and `callback_rings`."""

    def ringing(self, operator_id: str, endpoint: str, leg: str) -> None: ...
    def rang(self, operator_id: str, leg: str, result: RingResult, ms: int) -> None: ...


class Ring:
    """Originates a leg and waits for it to be answered, busy, unanswered or rung out;
    an operator's ring is journaled and settled on the board (presence policy)."""

    def __init__(
        self,
        ctx: CallContext,
        legs: Legs,
        events: LegEvents,
        journal: RingJournal,
        *,
        app_args: Sequence[str],
        lost_reply_refuses: bool = False,
    ) -> None:
        self.ctx = ctx
        self.legs = legs
        self.events = events
        self.journal = journal
        self.app_args = list(app_args)
        # True: a lost originate reply counts as a refusal (the leg, if any, is hung up);
        # False: it is raised to the owner.
        self.lost_reply_refuses = lost_reply_refuses

    async def operator(self, operator_id: str, leg: str, caller_id: str | None) -> RingResult:
        """Ring an operator the waiting room reserved for the owner."""
        endpoint = self.ctx.board.get(operator_id).operator.endpoint
        self.journal.ringing(operator_id, endpoint, leg)
        started = self.ctx.clock()
        state = await endpoint_state(self.ctx, endpoint)
        if state == "busy":
            result = RingResult.BUSY
        elif state == "offline":
            result = RingResult.UNAVAILABLE  # unregistered or failing qualify: do not dial
        else:
            timeout_s = self.ctx.settings.ring_timeout_s
            result = await self.dial(leg, endpoint, timeout_s=timeout_s, caller_id=caller_id)
        return self.settle(operator_id, leg, result, started)

    async def adopted(self, operator_id: str, leg: str, answered: bool) -> RingResult:
        """A ring a stopped process started goes on (it is not started again; the owner
        journals the adoption)."""
        self.legs.add(leg)
        started = self.ctx.clock()
        timeout_s = self.ctx.settings.ring_timeout_s + SAFETY_S
        result = RingResult.ANSWERED if answered else await self.answer_of(leg, timeout_s)
        return self.settle(operator_id, leg, result, started)

    def settle(self, operator_id: str, leg: str, result: RingResult, started: float) -> RingResult:
        ms = int((self.ctx.clock() - started) * 1000)
        self.journal.rang(operator_id, leg, result, ms)
        if result is not RingResult.ANSWERED:
            self.legs.ended(leg)
            self.ctx.board.ring_failed(operator_id)
        self.ctx.operator_ring_result(operator_id, result)
        return result

    async def dial(
        self, leg: str, endpoint: str, *, timeout_s: int, caller_id: str | None
    ) -> RingResult:
        """Originate `leg` to `endpoint` and wait for how it ends."""
        try:
            await self.originate(leg, endpoint, timeout_s=timeout_s, caller_id=caller_id)
        except REFUSED:
            self.legs.ended(leg)
            return RingResult.UNAVAILABLE
        except ari_errors.AriError:
            if not self.lost_reply_refuses:
                raise
            await self.legs.hang_up(leg)
            return RingResult.UNAVAILABLE
        return await self.answer_of(leg, timeout_s + SAFETY_S)

    async def originate(
        self, leg: str, endpoint: str, *, timeout_s: int, caller_id: str | None
    ) -> None:
        """Start `leg` ringing (raises what Asterisk refuses); the owner owns it at once."""
        self.legs.add(leg)  # before: its first events must find us
        self.legs.originating(leg)
        try:
            await self.ctx.ari.originate(
                endpoint,
                channel_id=leg,
                app=self.ctx.settings.app,
                app_args=self.app_args,
                timeout_s=timeout_s,
                caller_id=caller_id,
            )
        finally:
            self.legs.originated(leg)

    async def answer_of(self, leg: str, timeout_s: float) -> RingResult:
        """Answered (StasisStart; LegAnswered when reconcile found it Up while the socket
        was down), or the cause its ChannelDestroyed gives; an unanswered or cancelled
        leg is hung up."""
        deadline = self.ctx.clock() + timeout_s
        while True:
            event = await self.events.get(max(0.0, deadline - self.ctx.clock()))
            if event is None:
                await self.legs.hang_up(leg)
                return RingResult.NO_ANSWER
            if self.events.ends(event):
                await self.legs.hang_up(leg)
                return RingResult.CANCELLED
            self.events.aside(event)
            if channel_of(event) != leg:
                continue
            if isinstance(event, (StasisStart, LegAnswered)):
                return RingResult.ANSWERED
            if isinstance(event, (ChannelDestroyed, ChannelGone)):
                self.legs.ended(leg)
                return ring_result_from_cause(getattr(event, "cause", None))


async def endpoint_state(ctx: CallContext, endpoint: str) -> str:
    """`busy` when the phone is on a call the router did not place (internal or
    outbound), `offline` when Asterisk knows it cannot reach it, else `ok`."""
    tech, _, resource = endpoint.partition("/")
    try:
        found = await ctx.ari.get_endpoint(tech, resource, request_timeout=1.0)
    except ari_errors.AriError:
        return "ok"  # unknown: let the originate decide
    # The router's own legs do not count: a leg of the operator's previous routed call
    # can outlive its hang-up by a few milliseconds, and the board already knows
    # whether they are on a routed call.
    if any(LEG_MARK not in channel for channel in found.channel_ids):
        return "busy"
    return "offline" if found.state == "offline" else "ok"
