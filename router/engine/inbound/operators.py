"""The operators an inbound call rings (through the shared `engine/ring.py`), and the
conversation with the one who answers."""

from __future__ import annotations

from router.domain.calls import Phase, RingResult
from router.domain.reconcile_plan import leg_number
from router.domain.selection import Unreachable, skipped_again, stays_tried
from router.engine.call_state import (
    LEG_MARK,
    AdoptedRing,
    CallerGone,
    Resume,
    channel_of,
    is_terminal,
)
from router.engine.context import EventSink
from router.engine.inbound.bridge import CallBridge
from router.engine.inbound.caller import Caller
from router.engine.inbound.channel import CallerChannel
from router.engine.inbound.prompts import Prompts
from router.engine.ring import Legs, Ring

OPERATOR_ARG = "operator"  # first app arg of an operator leg (the engine routes by it)


class CallOperators:
    """Who was rung for the call, who rings now, and who answered."""

    def __init__(
        self,
        owner: EventSink,
        channel: CallerChannel,
        prompts: Prompts,
        bridge: CallBridge,
        caller: Caller,
        resume: Resume | None,
    ) -> None:
        self.channel = channel
        self.caller = caller
        self.ctx = channel.ctx
        self.prompts = prompts
        self.bridge = bridge
        self.legs = Legs(channel.ctx, owner)
        self.ring = Ring(channel.ctx, self.legs, channel, self, app_args=[OPERATOR_ARG, owner.id])
        # Rung for this call (never offered it again), and skipped because their phone
        # could not be dialled (offered again once it may be back: `domain/selection.py`).
        self.tried: list[str] = list(resume.tried) if resume else []
        self.unreachable: dict[str, Unreachable] = {}
        self._rings = len(self.tried)  # legs are numbered by ring, skipped ones too
        self.operator_channel: str | None = resume.bridged_with if resume else None
        self.operator_id: str | None = resume.operator_id if resume else None
        self.wrap_up_s: float | None = None  # the answering queue's wrap-up, when it sets one
        # The operator whose phone rings for this call right now (a reconnect must not
        # take them for someone else).
        ringing = resume.ringing if resume else None
        self.ringing_operator: str | None = ringing.operator_id if ringing else None
        if ringing is not None:
            # Past the adopted leg's number: rings skipped before the restart numbered too.
            self._rings = max(self._rings, leg_number(ringing.leg))
            self.legs.add(ringing.leg)  # attached by reconcile too, before the call runs

    # -- ringing (the journal the shared ring writes to) -----------------------------------

    async def ring_offered(self, operator_id: str) -> RingResult:
        """Ring one operator the waiting room reserved for this call."""
        # No prompt over a ring: the key a prompt offers is not read while a phone rings,
        # and the answer would cut it short.
        await self.prompts.stop()
        self._rings += 1
        leg = f"{self.channel.id}{LEG_MARK}{self._rings}"
        result = await self.ring.operator(operator_id, leg, self.caller.e164)
        return self._rang(operator_id, leg, result)

    async def ring_adopted(self, adopted: AdoptedRing) -> RingResult:
        """The ring a stopped process started goes on: the operator is not rung twice for
        this caller, and the caller keeps the operator who may be about to answer."""
        await self.bridge.hold()
        self.channel.event(
            "ringing", {"operator": adopted.operator_id, "leg": adopted.leg, "adopted": True}
        )
        # The dead process's write of this ring may not have reached the database.
        self._record_leg(adopted.leg)
        result = await self.ring.adopted(adopted.operator_id, adopted.leg, adopted.answered)
        return self._rang(adopted.operator_id, adopted.leg, result)

    def ringing(self, operator_id: str, endpoint: str, leg: str) -> None:
        self.tried.append(operator_id)
        self.ringing_operator = operator_id
        self.channel.event("ringing", {"operator": operator_id, "endpoint": endpoint, "leg": leg})
        self._record_leg(leg)

    def rang(self, operator_id: str, leg: str, result: RingResult, ms: int) -> None:
        self.ringing_operator = None
        self.ctx.recorder_ring(self.channel.id, operator_id, leg, result, ms)
        self.channel.event(
            "ring_result", {"operator": operator_id, "result": result.value, "ms": ms}
        )

    def _rang(self, operator_id: str, leg: str, result: RingResult) -> RingResult:
        if not stays_tried(result):
            self._skipped(operator_id)
        if result is RingResult.ANSWERED:
            self.operator_channel = leg
            self.operator_id = operator_id
        if result is RingResult.CANCELLED:
            raise CallerGone()
        return result

    def _skipped(self, operator_id: str) -> None:
        """The phone could not be dialled: the operator is skipped, not tried, for now."""
        if operator_id in self.tried:  # once at most: a tried operator is not offered again
            self.tried.remove(operator_id)
        skip = skipped_again(self.unreachable.get(operator_id), self.ctx.clock())
        self.unreachable[operator_id] = skip
        recheck_s = round(skip.back_at() - skip.at, 1)
        self.channel.event("skipped", {"operator": operator_id, "recheck_s": recheck_s})
        self.ctx.recorder_update(self.channel.id, tried_operators=list(self.tried))

    def _record_leg(self, leg: str) -> None:
        self.ctx.recorder_update(
            self.channel.id, tried_operators=list(self.tried), operator_channel_id=leg
        )

    # -- talking ------------------------------------------------------------------------------

    async def connect(self, leg: str) -> None:
        """The operator who answered joins the caller."""
        op_id = self.operator_id
        if op_id:
            self.ctx.board.connected(op_id)
        await self.bridge.join(leg)
        self.ctx.recorder_update(
            self.channel.id,
            phase=Phase.BRIDGED.value,
            operator_id=op_id,
            answered_at=self.ctx.now(),
            bridge_id=self.bridge.id,
            operator_channel_id=leg,
        )
        self.channel.event("connected", {"operator": op_id})
        self.ctx.reached_operator(self.channel.id, self.caller.e164)

    async def talk(self, leg: str) -> None:
        """Until either side hangs up; then the operator's wrap-up begins."""
        self.legs.add(leg)
        began = self.ctx.clock()
        ended_by = await self._either_end(leg)
        self.ctx.room.talk_finished(self.ctx.clock() - began)
        self.channel.event("ended", {"by": ended_by})
        if self.operator_id:
            self.ctx.operator_call_finished(self.operator_id, self.wrap_up_s)
        # Whoever is still there is hung up when the call finishes.

    async def _either_end(self, leg: str) -> str:
        while True:
            event = await self.channel.queue.get()
            if self.channel.ends(event):
                return "caller"
            self.channel.aside(event)
            if channel_of(event) == leg and is_terminal(event):
                self.legs.ended(leg)
                return "operator"

    async def hang_up_all(self) -> None:
        """The call is over: every leg still there is hung up."""
        for leg in sorted(self.legs.all()):
            await self.legs.hang_up(leg)

    def release_adopted_ring(self) -> None:
        """An adopted ring the call never got to frees its operator."""
        if self.ringing_operator is not None:
            self.ctx.board.release(self.ringing_operator)
