"""Re-adoption after a (re)connect.

Asterisk replays no events: calls that ended while the router was away get no StasisEnd,
and an app's channels stay in Stasis until someone acts (ari-facts §1, §4). So on every
connect we compare what Asterisk has with the open calls in the database and:
- bridged calls keep talking: a coroutine adopts them and completes the journey;
- waiting callers are routed again (operators already tried are not rung again);
- calls whose channels vanished are closed as such;
- operator legs nobody owns are hung up, bridges of ours no live call owns are deleted;
- calls the dialplan fallback served unanswered meanwhile go to the ledger (in the
  background: `fallback_misses.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Protocol

from router.ari import errors as ari_errors
from router.ari.models import Bridge, Channel
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, Phase
from router.domain.miss_target import aim
from router.domain.operators import Presence
from router.domain.wait_resume import (
    KEEP_PLACE_MISS,
    RESUME_EVENTS,
    WaitRecord,
    wait_record_of,
)
from router.engine.call_state import (
    BRIDGE_PREFIX,
    CALLBACK_PREFIX,
    LEG_MARK,
    AdoptedRing,
    ChannelGone,
    LegAnswered,
    MissFacts,
    Resume,
)
from router.engine.cleanup import delete_bridge, hang_up
from router.engine.context import CallContext, EventSink
from router.engine.fallback_misses import collect_fallback_misses
from router.engine.fallback_served import collect_fallback_served

if TYPE_CHECKING:
    from router.storage.models import CallRow

log = logging.getLogger(__name__)


class LiveCall(EventSink, Protocol):
    """What reconcile reads of a call running here."""

    @property
    def operator_id(self) -> str | None: ...
    @property
    def operator_channel(self) -> str | None: ...
    @property
    def ringing_operator(self) -> str | None: ...

    def legs(self) -> frozenset[str]: ...
    def record_new(self) -> None: ...


class Calls(Protocol):
    """What reconcile needs of the engine: the calls it runs and how to start one."""

    ctx: CallContext

    def live_calls(self) -> Sequence[LiveCall]: ...
    def owner_of(self, channel_id: str) -> EventSink | None: ...
    def attach(self, channel_id: str, call: EventSink) -> None: ...
    def deliver(self, call: EventSink, event: ChannelGone | LegAnswered) -> None: ...
    def start_call(
        self, channel_id: str, did: str, caller_raw: str, resume: Resume | None = None
    ) -> LiveCall | None: ...
    def adopt(self, row: CallRow, resume: Resume) -> None: ...
    def spawn(self, coro: Awaitable[None], name: str) -> None: ...


class Reconciler:
    def __init__(self, engine: Calls) -> None:
        self.engine = engine
        self.runs = 0

    async def run(self) -> None:
        ctx = self.engine.ctx
        try:
            channels = {c.id: c for c in await ctx.ari.list_channels()}
            bridges = await ctx.ari.list_bridges()
            app = await ctx.ari.get_application()
        except ari_errors.AriError as exc:
            log.error("reconcile skipped: cannot list Asterisk state (%s)", exc)
            return
        self.runs += 1
        bridge_of = {ch: b for b in bridges for ch in b.channel_ids}
        self._signal_vanished(channels)
        handled = await self._reconcile_open_calls(channels, bridge_of)
        await self._adopt_unknown_channels(app.channel_ids, channels, bridge_of, handled)
        # After both adoptions: an operator ringing for a caller adopted without a
        # database row stays ringing too.
        self._reset_stale_presence(self._operators_on_adopted_calls())
        self._sweep_orphan_bridges(bridges)
        log.info(
            "reconciled: %d channels, %d bridges in Asterisk; %d calls live here",
            len(channels),
            len(bridges),
            len(self.engine.live_calls()),
        )
        # Not awaited: events are held while on_connected runs, and a call offered now
        # must be claimed within a second or it goes to the fallback.
        self.engine.spawn(self._collect_fallback_misses(), "fallback misses")

    async def _collect_fallback_misses(self) -> None:
        await collect_fallback_misses(self.engine.ctx)
        await collect_fallback_served(self.engine.ctx)  # its answered calls, journaled

    def _signal_vanished(self, channels: dict[str, Channel]) -> None:
        """Tell calls still running here what happened to their channels while the socket
        was down (Asterisk replays nothing): a channel gone ended; a ringing leg now `Up`
        was answered (its StasisStart was lost), or the call would wait out its ring."""
        for call in self.engine.live_calls():
            owned = {call.id, *call.legs()}
            if call.operator_channel:
                owned.add(call.operator_channel)
            for channel_id in owned:
                if channel_id not in channels:
                    self.engine.deliver(call, ChannelGone(channel_id))
                elif (
                    channel_id != call.id
                    and channel_id != call.operator_channel
                    and channels[channel_id].state == "Up"
                ):
                    self.engine.deliver(call, LegAnswered(channel_id))

    async def _reconcile_open_calls(
        self, channels: dict[str, Channel], bridge_of: dict[str, Bridge]
    ) -> set[str]:
        ctx = self.engine.ctx
        handled: set[str] = set()
        await ctx.recorder.flush(2.0)
        try:
            rows = await ctx.store.calls.open_calls(ctx.settings.app)
        except Exception as exc:  # noqa: BLE001 - database down: Asterisk-side adoption below still runs
            log.error("reconcile: cannot read open calls (%s: %s)", type(exc).__name__, exc)
            return handled
        waits = await self._waits([r.id for r in rows if self.engine.owner_of(r.id) is None])
        for row in rows:
            handled.add(row.id)
            if self.engine.owner_of(row.id) is None:
                resume = Resume(wait=waits.get(row.id))
                handled.update(await self._reconcile_row(row, channels, bridge_of, resume))
        return handled

    async def _waits(self, call_ids: list[str]) -> dict[str, WaitRecord | None]:
        """What each caller was waiting for, from their journeys (one query)."""
        store = self.engine.ctx.store
        try:
            journeys = await store.calls.events_of(call_ids, sorted(RESUME_EVENTS))
            # The ledger, not only the journey, says who asked to be called back.
            kept = await store.callbacks.calls_with_miss(call_ids, KEEP_PLACE_MISS)
        except Exception as exc:  # noqa: BLE001 - database down: the calls are still adopted
            log.error("reconcile: cannot read waits (%s: %s)", type(exc).__name__, exc)
            return {}
        return {
            call_id: wait_record_of([(e.kind, e.data) for e in events], kept_place=call_id in kept)
            for call_id, events in journeys.items()
        }

    async def _reconcile_row(
        self,
        row: CallRow,
        channels: dict[str, Channel],
        bridge_of: dict[str, Bridge],
        resume: Resume,
    ) -> list[str]:
        """Adopt, route again or close one open call; returns its operator legs."""
        ctx = self.engine.ctx
        # Legs come from Asterisk, not only from the row: the process may have died right
        # after an originate, before the journal write naming the leg was flushed.
        legs = _legs_of(row.id, channels)
        if row.id not in channels:
            for leg in legs:
                await self._hangup(leg)  # its bridge goes with the orphan bridges
            bridged = row.phase == Phase.BRIDGED.value
            outcome = Outcome.ANSWERED if bridged else Outcome.LOST
            ctx.recorder_update(
                row.id, phase=Phase.ENDED.value, outcome=outcome.value, ended_at=ctx.now()
            )
            ctx.recorder_event(
                row.id,
                "closed_on_reconnect",
                {"reason": "the call ended while the router was away", "outcome": outcome.value},
            )
            if not bridged:
                # The caller gave up while nobody here could see it; the miss the dead
                # process may not have written goes to the ledger now (idempotent per call).
                waited = (ctx.now() - row.started_at).total_seconds()
                line = self._line_of(row)
                # What they waited for, so their callback goes where the call would have.
                target = aim(None, resume.wait.target, line=line) if resume.wait else None
                miss = MissFacts(row.id, row.caller_e164, row.patient_id, line, target)
                ctx.record_miss(miss, MissReason.ABANDONED, waited)
            log.info("call %s ended while the router was away: %s", row.id, outcome.value)
            return legs
        bridge = bridge_of.get(row.id)
        talking = next((leg for leg in legs if bridge and leg in bridge.channel_ids), None)
        ring = None if talking is not None else self._ring_to_keep(legs, channels)
        tried = list(row.tried_operators or [])
        for leg in legs:
            operator_id = self._operator_of(channels[leg]) or ""
            if operator_id and operator_id not in tried:
                tried.append(operator_id)  # rung by the previous process: never ring again
            if leg != talking and (ring is None or leg != ring.leg):
                await self._hangup(leg)  # an older ring, or one whose operator left
        resume.tried = tried
        resume.patient_id, resume.caller_e164 = row.patient_id, row.caller_e164
        resume.ringing = ring
        if talking is not None:
            resume.bridged_with = talking
            resume.operator_id = row.operator_id or self._operator_of(channels[talking])
        self.engine.adopt(row, resume)
        self._keep_ring(row.id, ring)
        return legs

    def _keep_ring(self, call_id: str, ring: AdoptedRing | None) -> None:
        """The adopted call owns its ringing leg now, not when its task runs (the answer
        may be the next event), and nobody else may be offered that operator meanwhile."""
        call = self.engine.owner_of(call_id)
        if ring is None or call is None:
            return
        self.engine.attach(ring.leg, call)
        board = self.engine.ctx.board
        if board.has(ring.operator_id) and board.get(ring.operator_id).presence is not (
            Presence.RINGING
        ):
            board.set(ring.operator_id, Presence.RINGING)

    def _ring_to_keep(self, legs: list[str], channels: dict[str, Channel]) -> AdoptedRing | None:
        """The leg the previous process was ringing last, if its operator is still ours:
        it rings on for the adopted caller (hanging it up could cost them the only
        operator who may take them, and ringing again would ring one phone twice)."""
        if not legs:
            return None
        leg = max(legs, key=_leg_number)
        operator_id = self._operator_of(channels[leg])
        if operator_id is None:
            return None
        return AdoptedRing(leg, operator_id, answered=channels[leg].state == "Up")

    def _line_of(self, row: CallRow) -> str | None:
        line = self.engine.ctx.rules().line_for(row.did or "")
        return line.id if line else None

    def _operator_of(self, leg: Channel) -> str | None:
        status = self.engine.ctx.board.by_endpoint(leg.endpoint)
        return status.id if status else None

    async def _adopt_unknown_channels(
        self,
        app_channels: tuple[str, ...],
        channels: dict[str, Channel],
        bridge_of: dict[str, Bridge],
        handled: set[str],
    ) -> None:
        """Channels in our app the database does not know (its write was lost)."""
        for channel_id in app_channels:
            if channel_id in handled or self.engine.owner_of(channel_id) is not None:
                continue
            channel = channels.get(channel_id)
            if channel is None:
                continue
            if LEG_MARK in channel_id or channel_id.startswith(CALLBACK_PREFIX):
                continue  # operator legs are settled with their caller below, callbacks apart
            bridge = bridge_of.get(channel_id)
            partner = next(
                (
                    c
                    for c in (bridge.channel_ids if bridge else ())
                    if c != channel_id and c in channels
                ),
                None,
            )
            if partner is not None:
                resume = Resume(
                    bridged_with=partner, operator_id=self._operator_of(channels[partner])
                )
            else:
                # Its legs say whom the previous process rang: never ring them again; the
                # last one rings on.
                legs = _legs_of(channel_id, channels)
                rung = (self._operator_of(channels[leg]) for leg in legs)
                resume = Resume(
                    tried=list(dict.fromkeys(op for op in rung if op)),
                    ringing=self._ring_to_keep(legs, channels),
                )
            call = self.engine.start_call(
                channel_id, channel.exten or "", channel.caller_number or "", resume
            )
            self._keep_ring(channel_id, resume.ringing)
            if partner is None and call is not None:
                # Not in our database at all: write the row the lost write should have made.
                call.record_new()
        await self._hang_up_orphan_legs(channels, bridge_of, handled)

    async def _hang_up_orphan_legs(
        self, channels: dict[str, Channel], bridge_of: dict[str, Bridge], handled: set[str]
    ) -> None:
        """Operator legs no open call settled: keep only one talking to its caller."""
        for channel_id in channels:
            if LEG_MARK not in channel_id or channel_id in handled:
                continue
            if channel_id.startswith(CALLBACK_PREFIX):
                continue  # the callback dispatcher settles its own legs
            if self.engine.owner_of(channel_id) is not None:
                continue  # still ringing for a call of ours (the socket only dropped)
            caller_id = channel_id.split(LEG_MARK)[0]
            bridge = bridge_of.get(channel_id)
            if bridge is None or caller_id not in bridge.channel_ids:
                await self._hangup(channel_id)

    def _operators_on_adopted_calls(self) -> set[str]:
        return {
            c.operator_id for c in self.engine.live_calls() if c.operator_id and c.operator_channel
        }

    def _reset_stale_presence(self, busy: set[str]) -> None:
        """States persisted by a process that died: only the rings and conversations of
        live calls are real."""
        board = self.engine.ctx.board
        ringing = {c.ringing_operator for c in self.engine.live_calls() if c.ringing_operator}
        for status in board.statuses():
            if status.id in busy:
                if status.presence is not Presence.ON_CALL:
                    board.set(status.id, Presence.ON_CALL)
            elif status.id in ringing:
                if status.presence is not Presence.RINGING:
                    board.set(status.id, Presence.RINGING)
            else:
                board.call_gone(status.id)  # a change asked for during the call applies

    def _sweep_orphan_bridges(self, bridges: list[Bridge]) -> None:
        """Bridges of calls no live call owns (a DELETE lost to an overload, a process
        that died): deleted in the background, since a slow Asterisk's retries must not
        hold the events of calls arriving meanwhile."""
        orphans = [b.id for b in bridges if self._orphan(b.id)]
        if orphans:
            self.engine.spawn(self._delete_orphans(orphans), "orphan bridges")

    def _orphan(self, bridge_id: str) -> bool:
        call_id = bridge_id.removeprefix(BRIDGE_PREFIX)
        return bridge_id.startswith(BRIDGE_PREFIX) and self.engine.owner_of(call_id) is None

    async def _delete_orphans(self, bridge_ids: list[str]) -> None:
        for bridge_id in bridge_ids:
            if self._orphan(bridge_id):  # not adopted meanwhile
                await self._delete_bridge(bridge_id)

    async def _delete_bridge(self, bridge_id: str) -> None:
        await delete_bridge(self.engine.ctx.ari, bridge_id)

    async def _hangup(self, channel_id: str) -> None:
        await hang_up(self.engine.ctx.ari, channel_id)


def _leg_number(leg: str) -> int:
    """`<call id>-op12` -> 12 (names sort op10 before op2)."""
    number = leg.rsplit(LEG_MARK, 1)[-1]
    return int(number) if number.isdigit() else 0


def _legs_of(call_id: str, channels: dict[str, Channel]) -> list[str]:
    """Operator legs are originated as `<call id>-op<n>`."""
    return sorted(c for c in channels if c.startswith(call_id + LEG_MARK))
