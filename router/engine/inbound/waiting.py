"""Waiting for an operator: the caller holds in the call's bridge, takes a seat in the
waiting room for whoever may answer (`Wanted`), hears their place in line, may ask to
be called back, and rings each operator the room offers until one answers.

The place in line (`since`) is kept across failed rings, relaxed steps and the next
target, and across a restart (`resume`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from router.ari.events import ChannelDtmfReceived
from router.config.rules import Rules
from router.domain.calls import RingResult
from router.domain.dispatch import PERSONAL, Place, WaitingCall
from router.domain.journey import last_resort
from router.domain.queue_steps import Queue, eligible_operators
from router.domain.routing import (
    AssignedTarget,
    OperatorTarget,
    QueueTarget,
    SkillsTarget,
    Target,
)
from router.domain.selection import Strategy, next_recheck, offerable
from router.domain.wait_resume import WAITING_EVENT, WaitRecord, target_to_json
from router.engine.context import CallContext
from router.engine.inbound.bridge import CallBridge
from router.engine.inbound.caller import Caller
from router.engine.inbound.channel import CallerChannel
from router.engine.inbound.keep_place import KeepPlace, Kept, TurnCame
from router.engine.inbound.operators import CallOperators
from router.engine.inbound.prompts import Prompts
from router.engine.moves import MoveRequest, move_target
from router.engine.waiting_room import OperatorOffer


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

    @classmethod
    def for_operator(
        cls, what: str, operator_id: str, target: AssignedTarget | OperatorTarget
    ) -> Wanted:
        """One named operator (the caller's manager, an operator the rules name)."""
        mine = frozenset({operator_id})
        return cls(f"{what} {operator_id}", PERSONAL, target.wait_s, lambda _w: mine, target=target)

    @classmethod
    def for_queue(cls, queue: Queue, target: QueueTarget | SkillsTarget, rules: Rules) -> Wanted:
        """A queue (or a skills target as a one-step queue): its steps relax who may answer."""
        return cls(
            f"queue {queue.id}",
            queue.priority,
            queue.max_wait_s,
            queue_eligibility(queue, rules),
            tuple(s.after_s for s in queue.steps[1:]),
            queue.announce_every_s,
            queue.announcement,
            queue.strategy,
            queue.skills,
            queue.wrap_up_s,
            offers_callback=True,
            target=target,
        )


def queue_eligibility(queue: Queue, rules: Rules) -> Callable[[float], frozenset[str]]:
    """Eligible operator ids by seconds waited, computed once per step reached."""
    cache: dict[int, frozenset[str]] = {}

    def eligible_at(waited: float) -> frozenset[str]:
        reached = sum(1 for s in queue.steps if s.after_s <= waited)
        if reached not in cache:
            ops = eligible_operators(queue, waited, rules.operators, rules.queues)
            cache[reached] = frozenset(op.id for op in ops)
        return cache[reached]

    return eligible_at


@dataclass
class Waiting:
    """The caller's waits, one target after another, keeping their place in line."""

    channel: CallerChannel
    prompts: Prompts
    bridge: CallBridge
    operators: CallOperators  # who is rung for the call
    keep_place: KeepPlace  # offered while waiting in a queue
    caller: Caller
    rules: Rules
    since: float | None = None  # the place in line (clock seconds)
    # Adopted after a restart: when (on `ctx.clock`) the wait for `resumed_for` began,
    # so its relaxed steps and the budget used count from the original start.
    resumed_started: float | None = None
    resumed_for: Target | None = None
    moved_to: Target | None = None  # a supervisor's move, for the walk to follow
    kept: Kept | None = None  # the caller chose "keep my place, call me back"

    @property
    def ctx(self) -> CallContext:
        return self.channel.ctx

    async def seek(self, wanted: Wanted) -> bool:
        """Wait for `wanted` to hand us an operator who answers; True once they did.

        False when the wait ran out, nobody eligible is left to try, a supervisor moved
        the caller (`moved_to`) or the caller asked to be called back (`kept`).
        """
        await self.bridge.hold()
        clock, seat, channel = self.ctx.clock, self.channel.seat, self.channel
        started = self._start_of(wanted)
        key = self.keep_place.key if wanted.offers_callback else None
        # "Press 5 to be called back" is offered once, when the caller really waits: not
        # to one an operator is rung for at once (they would hear a fragment of it).
        offer_key = key is not None and self.since is None
        if self.since is None:
            self.since = started
        every = wanted.announce_every_s
        next_announce = clock() + every if every else math.inf
        self._record(wanted, started)
        registered: frozenset[str] | None = None
        try:
            while True:
                now = clock()
                waited = now - started
                eligible, recheck = self._offerable(wanted, waited, now)
                later = [t for t in wanted.changes_at if t > waited]
                if not eligible and not later and recheck is None:
                    tried = list(self.operators.tried)
                    channel.event("nobody_left", {"for": wanted.label, "tried": tried})
                    return False
                # A scheduling pass per (re)registration: only when the caller is new to the
                # room, came back after a failed ring, or a step widened who may answer.
                if eligible != registered or not seat.taken():
                    registered = eligible
                    seat.take(self._waiting_call(wanted, eligible))
                if offer_key and seat.taken() and not self.prompts.playing:
                    offer_key = False
                    await self.prompts.start([self.ctx.settings.keep_place_prompt])
                wake = min(
                    started + wanted.max_wait_s,
                    next_announce,
                    started + min(later, default=math.inf),
                    math.inf if recheck is None else recheck,
                )
                event = await channel.next(max(0.0, wake - clock()))
                if isinstance(event, OperatorOffer):
                    if await self._put_through(event.operator_id, wanted):
                        return True
                elif event is None and clock() - started >= wanted.max_wait_s:
                    channel.event("max_wait", {"for": wanted.label, "waited_s": round(waited, 1)})
                    return False
                elif event is None and clock() >= next_announce:
                    next_announce += every
                    await self._announce(wanted)
                elif (
                    key is not None
                    and isinstance(event, ChannelDtmfReceived)
                    and event.channel.id == channel.id
                    and event.digit == key
                ):
                    answer = await self._ask_keep_place(wanted)
                    if isinstance(answer, Kept):
                        self.kept = answer
                        return False
                    turn = answer.operator_id if isinstance(answer, TurnCame) else None
                    if turn is not None and await self._put_through(turn, wanted):
                        return True
                elif isinstance(event, MoveRequest):
                    if self._accept_move(event, wanted):
                        return False  # the walk follows `moved_to`, the place kept
                elif event is not None:
                    self.prompts.note_end(event)
        finally:
            seat.leave()

    def _offerable(
        self, wanted: Wanted, waited: float, now: float
    ) -> tuple[frozenset[str], float | None]:
        """Who may be offered the call now, and when an operator skipped as unreachable
        may be offered it again (an eligible one; None when there is none)."""
        ops = self.operators
        eligible = wanted.eligible_at(waited)
        skipped = {k: v for k, v in ops.unreachable.items() if k not in ops.tried}
        return offerable(eligible, ops.tried, skipped, now), next_recheck(eligible, skipped, now)

    def take_move(self) -> Target | None:
        """The target a supervisor moved the caller to (once)."""
        moved, self.moved_to = self.moved_to, None
        return moved

    async def _put_through(self, operator_id: str, wanted: Wanted) -> bool:
        if await self.operators.ring_offered(operator_id) is not RingResult.ANSWERED:
            return False
        self.operators.wrap_up_s = wanted.wrap_up_s
        return True

    async def _ask_keep_place(self, wanted: Wanted) -> Kept | TurnCame | None:
        """The caller keeps their place in the room while they answer."""
        assert self.since is not None
        estimate = self.ctx.room.estimated_wait_s(self.channel.id)
        await self.prompts.stop()
        waited = self.ctx.clock() - self.since
        tried = set(self.operators.tried)
        eligible = wanted.eligible_at(waited) - tried or wanted.eligible_at(waited)
        place = Place(self.since, wanted.priority, eligible)
        return await self.keep_place.ask(place, waited, estimate)

    def _waiting_call(self, wanted: Wanted, eligible: frozenset[str]) -> WaitingCall:
        assert self.since is not None
        return WaitingCall(
            self.channel.id,
            wanted.priority,
            self.since,
            eligible,
            self.caller.assigned_operator,
            wanted.strategy,
            wanted.skills,
        )

    def _accept_move(self, request: MoveRequest, wanted: Wanted) -> bool:
        """A supervisor moves the caller: True when `moved_to` is set (journaled `moved`
        with who asked), False (journaled `move_refused`) when the target is not one."""
        back = wanted.target or last_resort(self.ctx.settings.unrouted_max_wait_s)
        found = move_target(
            request,
            queues=self.rules.queues.keys(),
            on_board=self.ctx.board.has,
            tried=self.operators.tried,
            back_to=back,
        )
        data: dict[str, object] = {"by": request.by, "from": wanted.label}
        if isinstance(found, str):
            self.channel.event("move_refused", {**data, "why": found})
            return False
        self.moved_to = found
        self.channel.event("moved", {**data, "to": target_to_json(found)})
        return True

    def _start_of(self, wanted: Wanted) -> float:
        """When the wait for `wanted` began: now, unless it is the wait an adopted caller
        was in before the restart (the same queue, skills or named operator). A named
        operator skipped on resume (already rung) leaves the next target a wait of its
        own; the place in line (`since`) is kept either way."""
        resumed, self.resumed_started = self.resumed_started, None
        if resumed is None or wanted.target is None or wanted.target != self.resumed_for:
            return self.ctx.clock()
        return resumed

    def _record(self, wanted: Wanted, started: float) -> None:
        """Journal the wait, with what a restarted router needs to resume it as it is."""
        data: dict[str, object] = {"for": wanted.label, "max_wait_s": wanted.max_wait_s}
        if wanted.target is not None and self.since is not None:
            now, mono = self.ctx.now(), self.ctx.clock()
            record = WaitRecord(
                wanted.target,
                now - timedelta(seconds=mono - self.since),
                now - timedelta(seconds=mono - started),
                wanted.priority,
                tuple(self.caller.menu_path),
            )
            data.update(record.to_json())
        self.channel.event(WAITING_EVENT, data)

    async def _announce(self, wanted: Wanted) -> None:
        """Position in line and, when history allows, the estimated wait (non-blocking)."""
        room = self.ctx.room
        position = room.position(self.channel.id)
        estimate = room.estimated_wait_s(self.channel.id, position)
        prompts = [wanted.announcement] if wanted.announcement else []
        if position == 1:
            prompts.append("queue-youarenext")
        elif position is not None:
            prompts += ["queue-thereare", f"number:{position - 1}", "queue-callswaiting"]
        if estimate is not None and estimate >= 60:
            prompts += ["queue-holdtime", f"number:{round(estimate / 60)}", "queue-minutes"]
        if wanted.offers_callback and self.keep_place.key is not None:
            prompts.append(self.ctx.settings.keep_place_prompt)
        if not self.prompts.playing and prompts:
            await self.prompts.start(prompts)
            self.channel.event("announcement", {"position": position, "estimate_s": estimate})
