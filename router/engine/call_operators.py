"""Getting the caller to an operator: hold with music, wait for an offer from the
waiting room, ring the offered operator, bridge, talk.

Asterisk facts this relies on (shared/notes/ari-facts.md):
- `ChannelDestroyed` is the only end-of-leg event that always comes; an originate that
  times out produces no Dial NOANSWER, only ChannelDestroyed with cause 19.
- An originated leg enters Stasis (StasisStart) only when answered.
- A channel command waits behind a running channel playback, so the caller waits on
  bridge MOH (which blocks nothing) while operators ring.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from router.ari import errors as ari_errors
from router.ari.events import ChannelDestroyed, ChannelDtmfReceived, StasisStart
from router.domain.calls import Outcome, Phase, RingResult, ring_result_from_cause
from router.domain.dispatch import WaitingCall
from router.domain.journey import last_resort
from router.domain.routing import Target
from router.domain.selection import Strategy
from router.domain.wait_resume import WAITING_EVENT, WaitRecord, target_to_json
from router.engine.call_media import CallMedia
from router.engine.call_state import (
    LEG_MARK,
    AdoptedRing,
    CallerGone,
    ChannelGone,
    LegAnswered,
    channel_of,
    is_terminal,
)
from router.engine.context import CallContext
from router.engine.moves import MoveRequest, move_target
from router.engine.waiting_room import OperatorOffer, put_offer


@dataclass(frozen=True, slots=True)
class Wanted:
    """Who may take the call while it waits, and for how long (a queue, a manager)."""

    label: str
    priority: int
    max_wait_s: float
    eligible_at: Callable[[float], frozenset[str]]  # seconds waited -> operator ids
    changes_at: tuple[float, ...] = ()  # seconds waited at which eligibility may change
    announce_every_s: int = 0
    announcement: str | None = None
    strategy: Strategy = "longest_idle"
    skills: tuple[str, ...] = ()
    wrap_up_s: float | None = None
    offers_callback: bool = False  # the caller may press a key to be called back instead
    target: Target | None = None  # the rules' target waited for: recorded to resume it


class CallOperators(CallMedia):
    assigned_operator: str | None = None
    waiting_since: float | None = None  # kept across rings and ladder steps: the place in line
    wrap_up_s: float | None = None  # the answering queue's wrap-up, when it sets one
    left_to_call_back = False  # the caller chose "keep my place, call me back"
    # Adopted after a restart: when (on `ctx.clock`) the wait for `resumed_for` began, so
    # its relaxed steps and the budget used count from the original start.
    resumed_started: float | None = None
    resumed_for: Target | None = None
    moved_to: Target | None = None  # a supervisor's move, for the walk to follow

    def _keep_place_key(self) -> str | None:
        return None  # "keep my place" is offered by CallKeepPlace

    async def _keep_place(self, wanted: Wanted, estimate_s: float | None) -> str | None:
        """Sets `left_to_call_back`, or returns an operator offered meanwhile (or None)."""
        del wanted, estimate_s
        return None

    async def _hold(self) -> None:
        """Put the caller in the call's bridge with music while operators ring."""
        ari = self.ctx.ari
        if self._bridge_ready:
            return
        await self._stop_playback()  # addChannel would wait behind it
        members: tuple[str, ...] = ()
        if self.resume is not None:  # adopted after a restart: the bridge may be there
            try:
                members = (await ari.get_bridge(self.bridge_id)).channel_ids
                self._bridge_ready = True
            except ari_errors.AriNotFound:
                pass
        if not self._bridge_ready:
            self._bridge_asked = True
            await ari.create_bridge(self.bridge_id, "mixing", name=self.bridge_id)
            self._bridge_ready = True
        if self.id not in members:
            await self._add_to_bridge(self.id)
        await self._guard(ari.start_bridge_moh(self.bridge_id, self.ctx.settings.moh_class))

    async def _unhold(self) -> None:
        """Take the caller out of the bridge (to play a message to them alone)."""
        if not self._bridge_ready:
            return
        try:
            await self.ctx.ari.stop_bridge_moh(self.bridge_id)
            await self.ctx.ari.remove_channel(self.bridge_id, self.id)
        except ari_errors.AriNotFound:
            raise CallerGone() from None
        except ari_errors.AriError:
            pass

    async def _add_to_bridge(self, channel_id: str) -> None:
        try:
            await self.ctx.ari.add_channel(self.bridge_id, [channel_id])
        except ari_errors.AriNotFound:
            if channel_id == self.id:
                raise CallerGone() from None
            raise

    # -- waiting -----------------------------------------------------------------------------

    def _offer(self, offer: OperatorOffer) -> bool:
        return put_offer(self.queue, offer)

    async def _seek(self, wanted: Wanted) -> bool:
        """Wait for `wanted` to hand us an operator who answers; True once bridged.

        False when the wait ran out or nobody eligible is left to try. The caller keeps
        their place in line across failed rings.
        """
        await self._hold()
        clock, room = self.ctx.clock, self.ctx.room
        started = self._wait_start(wanted)
        key = self._keep_place_key() if wanted.offers_callback else None
        # "Press 5 to be called back" is offered once, when the caller really waits: not
        # to one an operator is rung for at once (they would hear a fragment of it).
        offer_key = key is not None and self.waiting_since is None
        if self.waiting_since is None:
            self.waiting_since = started
        every = wanted.announce_every_s
        next_announce = clock() + every if every else math.inf
        self._record_wait(wanted, started)
        registered: frozenset[str] | None = None
        try:
            while True:
                waited = clock() - started
                eligible = wanted.eligible_at(waited) - set(self.tried)
                later = [t for t in wanted.changes_at if t > waited]
                if not eligible and not later:
                    self._event("nobody_left", {"for": wanted.label, "tried": list(self.tried)})
                    return False
                # A scheduling pass per (re)registration: only when the caller is new to the
                # room, came back after a failed ring, or a step widened who may answer.
                if eligible != registered or not room.is_waiting(self.id):
                    registered = eligible
                    call = WaitingCall(
                        self.id,
                        wanted.priority,
                        self.waiting_since,
                        eligible,
                        self.assigned_operator,
                        wanted.strategy,
                        wanted.skills,
                    )
                    room.wait(call, self._offer)
                if offer_key and room.is_waiting(self.id) and self.playback_id is None:
                    offer_key = False
                    await self._start_playback([self.ctx.settings.keep_place_prompt])
                wake = min(
                    started + wanted.max_wait_s,
                    next_announce,
                    started + min(later, default=math.inf),
                )
                event = await self._next(max(0.0, wake - clock()))
                if isinstance(event, OperatorOffer):
                    if await self._ring(event.operator_id) is RingResult.ANSWERED:
                        self.wrap_up_s = wanted.wrap_up_s
                        return True
                elif event is None and clock() - started >= wanted.max_wait_s:
                    self._event("max_wait", {"for": wanted.label, "waited_s": round(waited, 1)})
                    return False
                elif event is None and clock() >= next_announce:
                    next_announce += every
                    await self._announce(wanted)
                elif (
                    key is not None
                    and isinstance(event, ChannelDtmfReceived)
                    and event.channel.id == self.id
                    and event.digit == key
                ):
                    # The caller keeps their place in the room while they answer: if
                    # their turn comes meanwhile, they are put through instead.
                    estimate = room.estimated_wait_s(self.id)
                    await self._stop_playback()
                    offer = await self._keep_place(wanted, estimate)
                    if self.left_to_call_back:
                        return False
                    if offer is not None and await self._ring(offer) is RingResult.ANSWERED:
                        self.wrap_up_s = wanted.wrap_up_s
                        return True
                elif isinstance(event, MoveRequest):
                    if self._accept_move(event, wanted):
                        return False  # the walk follows `moved_to`, the place kept
                elif event is not None:
                    self._note_playback_end(event)
        finally:
            room.leave(self.id)

    def _accept_move(self, request: MoveRequest, wanted: Wanted) -> bool:
        """A supervisor moves the caller: True when `moved_to` is set (journaled `moved`
        with who asked), False (journaled `move_refused`) when the target is not one."""
        rules = self.rules
        back = wanted.target or last_resort(self.ctx.settings.unrouted_max_wait_s)
        found = move_target(
            request,
            queues=rules.queues.keys(),
            on_board=self.ctx.board.has,
            tried=self.tried,
            back_to=back,
        )
        data: dict[str, object] = {"by": request.by, "from": wanted.label}
        if isinstance(found, str):
            self._event("move_refused", {**data, "why": found})
            return False
        self.moved_to = found
        self._event("moved", {**data, "to": target_to_json(found)})
        return True

    def _take_move(self) -> Target | None:
        """The target a supervisor moved the caller to (once)."""
        moved, self.moved_to = self.moved_to, None
        return moved

    def _wait_start(self, wanted: Wanted) -> float:
        """When the wait for `wanted` began: now, unless it is the wait an adopted caller
        was in before the restart (the same queue, skills or named operator). A named
        operator skipped on resume (already rung) leaves the next target a wait of its
        own; the place in line (`waiting_since`) is kept either way."""
        resumed, self.resumed_started = self.resumed_started, None
        if resumed is None or wanted.target is None or wanted.target != self.resumed_for:
            return self.ctx.clock()
        return resumed

    def _record_wait(self, wanted: Wanted, started: float) -> None:
        """Journal the wait, with what a restarted router needs to resume it as it is."""
        data: dict[str, object] = {"for": wanted.label, "max_wait_s": wanted.max_wait_s}
        if wanted.target is not None and self.waiting_since is not None:
            now, mono = self.ctx.now(), self.ctx.clock()
            record = WaitRecord(
                wanted.target,
                now - timedelta(seconds=mono - self.waiting_since),
                now - timedelta(seconds=mono - started),
                wanted.priority,
                tuple(self.menu_path),
            )
            data.update(record.to_json())
        self._event(WAITING_EVENT, data)

    async def _announce(self, wanted: Wanted) -> None:
        """Position in line and, when history allows, the estimated wait (non-blocking)."""
        room = self.ctx.room
        position = room.position(self.id)
        estimate = room.estimated_wait_s(self.id, position)
        prompts = [wanted.announcement] if wanted.announcement else []
        if position == 1:
            prompts.append("queue-youarenext")
        elif position is not None:
            prompts += ["queue-thereare", f"number:{position - 1}", "queue-callswaiting"]
        if estimate is not None and estimate >= 60:
            prompts += ["queue-holdtime", f"number:{round(estimate / 60)}", "queue-minutes"]
        if wanted.offers_callback and self._keep_place_key() is not None:
            prompts.append(self.ctx.settings.keep_place_prompt)
        if self.playback_id is None and prompts:
            await self._start_playback(prompts)
            self._event("announcement", {"position": position, "estimate_s": estimate})

    # -- ringing -----------------------------------------------------------------------------

    async def _ring(self, operator_id: str) -> RingResult:
        """Ring one operator already reserved for this call by the waiting room."""
        # No prompt over a ring: the key a prompt offers is not read while a phone rings,
        # and the answer would cut it short.
        await self._stop_playback()
        status = self.ctx.board.get(operator_id)
        op = status.operator
        leg = f"{self.id}{LEG_MARK}{len(self.tried) + 1}"
        self.tried.append(op.id)
        self.ctx.attach(leg, self)
        self._live_legs.add(leg)
        self.ringing_operator = op.id
        started = self.ctx.clock()
        self._event("ringing", {"operator": op.id, "endpoint": op.endpoint, "leg": leg})
        self.ctx.recorder_update(self.id, tried_operators=list(self.tried), operator_channel_id=leg)
        result = await self._ring_leg(leg, op.endpoint)
        return self._ring_over(op.id, leg, result, started)

    async def _ring_adopted(self, ring: AdoptedRing) -> RingResult:
        """The ring a stopped process started goes on: the operator is not rung twice for
        this caller, and the caller keeps the operator who may be about to answer."""
        await self._hold()
        self._live_legs.add(ring.leg)  # attached to this call by the reconcile
        started = self.ctx.clock()
        data = {"operator": ring.operator_id, "leg": ring.leg, "adopted": True}
        self._event("ringing", data)
        # The dead process's write of this ring may not have reached the database.
        self.ctx.recorder_update(
            self.id, tried_operators=list(self.tried), operator_channel_id=ring.leg
        )
        result = RingResult.ANSWERED if ring.answered else await self._await_leg(ring.leg)
        return self._ring_over(ring.operator_id, ring.leg, result, started)

    def _ring_over(self, op_id: str, leg: str, result: RingResult, started: float) -> RingResult:
        self.ringing_operator = None
        elapsed_ms = int((self.ctx.clock() - started) * 1000)
        self.ctx.recorder_ring(self.id, op_id, leg, result, elapsed_ms)
        self._event("ring_result", {"operator": op_id, "result": result.value, "ms": elapsed_ms})
        if result is RingResult.ANSWERED:
            self.operator_channel = leg
            self.operator_id = op_id
        else:
            self._live_legs.discard(leg)
            self.ctx.detach(leg)
            self.ctx.board.ring_failed(op_id)
        self.ctx.operator_ring_result(op_id, result)
        if result is RingResult.CANCELLED:
            raise CallerGone()
        return result

    async def _ring_leg(self, leg: str, endpoint: str) -> RingResult:
        settings = self.ctx.settings
        state = await endpoint_state(self.ctx, endpoint)
        if state == "busy":
            return RingResult.BUSY
        if state == "offline":
            return RingResult.UNAVAILABLE  # unregistered or failing qualify: do not dial
        try:
            await self.ctx.ari.originate(
                endpoint,
                channel_id=leg,
                app=settings.app,
                app_args=["operator", self.id],
                timeout_s=settings.ring_timeout_s,
                caller_id=self.caller_e164,
            )
        except (ari_errors.AriServerError, ari_errors.AriBadRequest, ari_errors.AriNotFound):
            return RingResult.UNAVAILABLE  # 500 "Allocation failed": unregistered/unreachable
        return await self._await_leg(leg)

    async def _await_leg(self, leg: str) -> RingResult:
        """How a ringing leg ends: answered (StasisStart), or its ChannelDestroyed cause."""
        settings = self.ctx.settings
        # Asterisk's own timeout ends the leg; ours is only a safety net.
        try:
            async with asyncio.timeout(settings.ring_timeout_s + 10):
                while True:
                    event = await self.queue.get()
                    if self._is_caller_end(event):
                        await self._hangup(leg)
                        return RingResult.CANCELLED
                    self._note_playback_end(event)
                    self._decline_offer(event)
                    if channel_of(event) != leg:
                        continue
                    # LegAnswered: answered while the socket was down (reconcile saw it Up).
                    if isinstance(event, (StasisStart, LegAnswered)):
                        return RingResult.ANSWERED
                    if isinstance(event, (ChannelDestroyed, ChannelGone)):
                        return ring_result_from_cause(getattr(event, "cause", None))
        except TimeoutError:
            await self._hangup(leg)
            return RingResult.NO_ANSWER

    # -- talking -----------------------------------------------------------------------------

    async def _talk(self, leg: str, already_bridged: bool = False) -> None:
        ari = self.ctx.ari
        op_id = self.operator_id
        if not already_bridged:
            if op_id:
                self.ctx.board.connected(op_id)
            await self._stop_playback()
            try:
                await ari.stop_bridge_moh(self.bridge_id)
            except ari_errors.AriError:
                pass
            await self._add_to_bridge(leg)
            self.ctx.recorder_update(
                self.id,
                phase=Phase.BRIDGED.value,
                operator_id=op_id,
                answered_at=self.ctx.now(),
                bridge_id=self.bridge_id,
                operator_channel_id=leg,
            )
            self._event("connected", {"operator": op_id})
            self.ctx.reached_operator(self.id, self.caller_e164)
        self._live_legs.add(leg)
        self.ctx.attach(leg, self)
        self.outcome = Outcome.ANSWERED
        began = self.ctx.clock()
        ended_by = await self._wait_either_end(leg)
        self.ctx.room.talk_finished(self.ctx.clock() - began)
        self._event("ended", {"by": ended_by})
        if op_id:
            self.ctx.operator_call_finished(op_id, self.wrap_up_s)
        # Whoever is still there is hung up by _finish.

    async def _wait_either_end(self, leg: str) -> str:
        while True:
            event = await self.queue.get()
            if self._is_caller_end(event):
                return "caller"
            self._decline_offer(event)
            if channel_of(event) == leg and is_terminal(event):
                self._live_legs.discard(leg)
                return "operator"


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
