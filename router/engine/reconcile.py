"""Re-adoption after a (re)connect: the engine's side of `domain.reconcile_plan`.

Asterisk replays no events, so on every connect this reads what Asterisk has (channels,
bridges, our app's channels) and the open calls in the database, lets the pure plan
decide (adopt, close, hang up, delete), and carries its steps out in order. Calls still
running here are told what happened to their channels while the socket was down, stale
operator states are reset, and calls the dialplan fallback served meanwhile are
journaled in the background (`fallback_misses.py`, `fallback_served.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from router.ari import errors as ari_errors
from router.ari.models import Channel
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, Phase
from router.domain.miss_target import aim
from router.domain.operators import Presence
from router.domain.reconcile_plan import (
    BRIDGE_PREFIX,
    Adopt,
    AdoptedRing,
    Close,
    HangUp,
    OpenCall,
    Seen,
    SeenChannel,
    plan_reconcile,
)
from router.domain.wait_resume import KEEP_PLACE_MISS, RESUME_EVENTS, WaitRecord, wait_record_of
from router.engine.call_state import ChannelGone, LegAnswered, MissFacts, Resume
from router.engine.cleanup import delete_bridge, hang_up
from router.engine.context import CallContext, EventSink
from router.engine.fallback_misses import collect_fallback_misses
from router.engine.fallback_served import collect_fallback_served
from router.engine.open_calls import open_calls_as_written

if TYPE_CHECKING:
    from router.storage.models import CallRow

log = logging.getLogger(__name__)

# How long a reconcile waits for the journal's queued writes before reading the open
# calls: events are held meanwhile (a new caller must be claimed within a second or two).
FLUSH_S = 2.0


class LiveCall(EventSink, Protocol):
    """What reconcile reads of a call running here."""

    @property
    def operator_id(self) -> str | None: ...
    @property
    def operator_channel(self) -> str | None: ...
    @property
    def ringing_operator(self) -> str | None: ...
    @property
    def started_at(self) -> float: ...  # the call's start on the context's clock

    def legs(self) -> frozenset[str]: ...
    def record_new(self) -> None: ...


class Calls(Protocol):
    """What reconcile needs of the engine: the calls it runs and how to start one."""

    ctx: CallContext

    def live_calls(self) -> Sequence[LiveCall]: ...
    def owner_of(self, channel_id: str) -> EventSink | None: ...
    def owned_channels(self) -> frozenset[str]: ...
    def callback_operators(self) -> frozenset[str]: ...
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
        self._asterisk_started: datetime | None = None  # Asterisk's start, as last seen

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
        started = await self._asterisk_start()
        if started is not None:  # an unanswered info keeps the last start known
            self._asterisk_started = started
        # Calls running here settle themselves, told below what happened meanwhile. Taken
        # before the reads: one that ends during them (told its caller is gone) had its
        # open row read, and closed again here it got a second outcome and miss (seen on
        # the sandbox after an Asterisk crash).
        owned = self.engine.owned_channels()
        self._signal_vanished(channels, started)
        rows = await self._open_calls()
        waits = await self._waits([r.id for r in rows if r.id not in owned])
        seen = Seen(
            channels=self._seen_channels(channels),
            bridges={b.id: b.channel_ids for b in bridges},
            app_channels=app.channel_ids,
            open_calls=tuple(_open_call(row) for row in rows),
            owned=owned,
        )
        plan = plan_reconcile(seen)
        by_id = {row.id: row for row in rows}
        for step in plan.steps:
            if isinstance(step, HangUp):
                await hang_up(ctx.ari, step.channel)
            elif isinstance(step, Close):
                row = by_id[step.call_id]
                # Asterisk (re)started after the call began: its channel died with the
                # old Asterisk (a crash sends no BYE, no event), the caller did not give up.
                cut = started is not None and started > row.started_at
                self._close(row, step.answered, waits.get(step.call_id), cut)
            else:
                self._adopt(step, by_id.get(step.call_id), waits.get(step.call_id))
        # After both adoptions: an operator ringing for a caller adopted without a
        # database row stays ringing too.
        self._reset_stale_presence(self._operators_on_adopted_calls())
        if plan.orphan_bridges:
            self.engine.spawn(self._delete_orphans(plan.orphan_bridges), "orphan bridges")
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

    async def _asterisk_start(self) -> datetime | None:
        """When the Asterisk we are connected to started (None: not known)."""
        try:
            info = await self.engine.ctx.ari.info()
            return datetime.strptime(info.startup_time, "%Y-%m-%dT%H:%M:%S.%f%z")
        except (ari_errors.AriError, ValueError) as exc:
            log.warning("Asterisk's start time not known (%s)", exc)
            return None

    def _signal_vanished(self, channels: dict[str, Channel], started: datetime | None) -> None:
        """Tell calls still running here what happened to their channels while the socket
        was down (Asterisk replays nothing): a channel gone ended (with Asterisk, if it
        `started` after the call began: a crash sends nothing); a ringing leg now `Up` was
        answered (its StasisStart was lost), or the call would wait out its ring."""
        ctx = self.engine.ctx
        for call in self.engine.live_calls():
            legs = {*call.legs(), call.operator_channel} - {None, call.id}
            # Per call, as `cut` for the calls closed: a restart noticed only now (the
            # start time unread at the reconnect after the crash) did not take the callers
            # who came after it and hung up while the socket was down.
            began = ctx.now() - timedelta(seconds=ctx.clock() - call.started_at)
            cut = started is not None and started > began
            # The caller first: gone with Asterisk, their call ends as such, instead of
            # going on with its ring's end (to a max_wait miss, seen on the sandbox).
            for channel_id in [call.id, *sorted(c for c in legs if c)]:
                if channel_id not in channels:
                    self.engine.deliver(call, ChannelGone(channel_id, asterisk_gone=cut))
                elif (
                    channel_id != call.id
                    and channel_id != call.operator_channel
                    and channels[channel_id].state == "Up"
                ):
                    self.engine.deliver(call, LegAnswered(channel_id))

    async def _open_calls(self) -> list[CallRow]:
        """The open calls in the database, as if the journal's queued writes had landed
        (`open_calls_as_written`: only the calls with writes still queued after `FLUSH_S`
        are left out)."""
        ctx = self.engine.ctx
        try:
            return await open_calls_as_written(ctx, ctx.settings.app, FLUSH_S, "reconcile")
        except Exception as exc:  # noqa: BLE001 - database down: Asterisk-side adoption still runs
            log.error("reconcile: cannot read open calls (%s: %s)", type(exc).__name__, exc)
            return []

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

    def _seen_channels(self, channels: dict[str, Channel]) -> dict[str, SeenChannel]:
        board = self.engine.ctx.board
        operator_at = {s.operator.endpoint.lower(): s.id for s in reversed(board.statuses())}
        return {
            c.id: SeenChannel(
                c.id,
                up=c.state == "Up",
                operator=operator_at.get(c.endpoint.lower()),
                exten=c.exten or "",
                caller_number=c.caller_number or "",
            )
            for c in channels.values()
        }

    def _close(self, row: CallRow, answered: bool, wait: WaitRecord | None, cut: bool) -> None:
        """The call ended while the router was away; `cut`: by Asterisk's restart. Then,
        as when Asterisk shuts down in front of the router, a caller not yet through is
        `failed` and a `no_operator` miss (nobody could take them), not one who gave up."""
        ctx = self.engine.ctx
        outcome = Outcome.ANSWERED if answered else Outcome.FAILED if cut else Outcome.LOST
        ctx.recorder_update(
            row.id, phase=Phase.ENDED.value, outcome=outcome.value, ended_at=ctx.now()
        )
        why = "Asterisk restarted" if cut else "the call ended"
        ctx.recorder_event(
            row.id,
            "closed_on_reconnect",
            {"reason": f"{why} while the router was away", "outcome": outcome.value},
        )
        if not answered:
            # The caller gave up while nobody here could see it; the miss the dead
            # process may not have written goes to the ledger now (idempotent per call).
            waited = (ctx.now() - row.started_at).total_seconds()
            line = ctx.rules().line_for(row.did or "")
            line_id = line.id if line else None
            # What they waited for, so their callback goes where the call would have.
            target = aim(None, wait.target, line=line_id) if wait else None
            miss = MissFacts(row.id, row.caller_e164, row.patient_id, line_id, target)
            ctx.record_miss(miss, MissReason.NO_OPERATOR if cut else MissReason.ABANDONED, waited)
        log.info("call %s ended while the router was away: %s", row.id, outcome.value)

    def _adopt(self, step: Adopt, row: CallRow | None, wait: WaitRecord | None) -> None:
        resume = Resume(
            tried=list(step.tried),
            bridged_with=step.bridged_with,
            operator_id=step.operator_id,
            ringing=step.ringing,
            talk_over=step.talk_over,
        )
        if row is not None:
            resume.wait = wait
            resume.patient_id, resume.caller_e164 = row.patient_id, row.caller_e164
            resume.started_at = row.started_at
            self.engine.adopt(row, resume)
            self._keep_ring(step.call_id, step.ringing)
            return
        call = self.engine.start_call(step.call_id, step.exten, step.caller_number, resume)
        self._keep_ring(step.call_id, step.ringing)
        if step.bridged_with is None and call is not None:
            # Not in our database at all: write the row the lost write should have made.
            call.record_new()

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

    def _operators_on_adopted_calls(self) -> set[str]:
        return {
            c.operator_id for c in self.engine.live_calls() if c.operator_id and c.operator_channel
        }

    def _reset_stale_presence(self, busy: set[str]) -> None:
        """States persisted by a process that died: only the rings and conversations of
        live calls are real. An operator a callback attempt rings or talks with is left
        as the attempt set them (after a socket-only reconnect the attempt goes on; after
        a restart the dispatcher's `resume` adopts it)."""
        board = self.engine.ctx.board
        ringing = {c.ringing_operator for c in self.engine.live_calls() if c.ringing_operator}
        on_callbacks = self.engine.callback_operators()
        for status in board.statuses():
            if status.id in on_callbacks:
                continue
            if status.id in busy:
                if status.presence is not Presence.ON_CALL:
                    board.set(status.id, Presence.ON_CALL)
            elif status.id in ringing:
                if status.presence is not Presence.RINGING:
                    board.set(status.id, Presence.RINGING)
            else:
                board.call_gone(status.id)  # a change asked for during the call applies

    def _orphan(self, bridge_id: str) -> bool:
        call_id = bridge_id.removeprefix(BRIDGE_PREFIX)
        return bridge_id.startswith(BRIDGE_PREFIX) and self.engine.owner_of(call_id) is None

    async def _delete_orphans(self, bridge_ids: Sequence[str]) -> None:
        """Bridges no live call owns (a DELETE lost to an overload, a process that died):
        deleted in the background, since a slow Asterisk's retries must not hold the
        events of calls arriving meanwhile."""
        for bridge_id in bridge_ids:
            if self._orphan(bridge_id):  # not adopted meanwhile
                await delete_bridge(self.engine.ctx.ari, bridge_id)


def _open_call(row: CallRow) -> OpenCall:
    bridged = row.phase == Phase.BRIDGED.value
    return OpenCall(row.id, bridged, row.operator_id, tuple(row.tried_operators or ()))
