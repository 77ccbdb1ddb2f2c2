"""Re-adoption after a (re)connect.

Asterisk replays no events: calls that ended while the router was away get no StasisEnd,
and an app's channels stay in Stasis until someone acts (ari-facts §1, §4). So on every
connect we compare what Asterisk has with the open calls in the database and:
- bridged calls keep talking: a coroutine adopts them and completes the journey;
- waiting callers are routed again (operators already tried are not rung again);
- calls whose channels vanished are closed as such;
- operator legs nobody owns are hung up, empty bridges of ours are deleted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from router.ari import errors as ari_errors
from router.ari.models import Bridge, Channel
from router.domain.calls import Outcome, Phase
from router.domain.operators import Presence
from router.engine.call import Resume
from router.engine.context import ChannelGone

if TYPE_CHECKING:
    from router.engine.engine import Engine
    from router.storage.models import CallRow

log = logging.getLogger(__name__)

BRIDGE_PREFIX = "cr-"
LEG_MARK = "-op"


class Reconciler:
    def __init__(self, engine: Engine) -> None:
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
        busy_operators = self._operators_on_adopted_calls()
        self._reset_stale_presence(busy_operators)
        await self._adopt_unknown_channels(app.channel_ids, channels, bridge_of, handled)
        await self._delete_empty_bridges(bridges)
        log.info(
            "reconciled: %d channels, %d bridges in Asterisk; %d calls live here",
            len(channels),
            len(bridges),
            len(self.engine.live_calls()),
        )

    def _signal_vanished(self, channels: dict[str, Channel]) -> None:
        """Calls still running here whose channels died while the socket was down."""
        for call in self.engine.live_calls():
            for channel_id in [call.id, call.operator_channel]:
                if channel_id and channel_id not in channels:
                    self.engine.deliver(call, ChannelGone(channel_id))

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
        for row in rows:
            if self.engine.owner_of(row.id) is not None:
                handled.add(row.id)
                continue
            handled.update(c for c in (row.id, row.operator_channel_id) if c)
            await self._reconcile_row(row, channels, bridge_of)
        return handled

    async def _reconcile_row(
        self, row: CallRow, channels: dict[str, Channel], bridge_of: dict[str, Bridge]
    ) -> None:
        ctx = self.engine.ctx
        leg = row.operator_channel_id
        if row.id not in channels:
            if leg and leg in channels:
                await self._hangup(leg)
            await self._delete_bridge(BRIDGE_PREFIX + row.id)
            bridged = row.phase == Phase.BRIDGED.value
            outcome = Outcome.ANSWERED if bridged else Outcome.LOST
            ctx.recorder.submit(
                f"close {row.id}",
                lambda: ctx.store.calls.update(
                    row.id, phase=Phase.ENDED.value, outcome=outcome.value, ended_at=ctx.now()
                ),
            )
            ctx.recorder.submit(
                f"event {row.id}",
                lambda: ctx.store.calls.append_event(
                    row.id,
                    "closed_on_reconnect",
                    {
                        "reason": "the call ended while the router was away",
                        "outcome": outcome.value,
                    },
                    ctx.now(),
                ),
            )
            log.info("call %s ended while the router was away: %s", row.id, outcome.value)
            return
        bridge = bridge_of.get(row.id)
        tried = list(row.tried_operators or [])
        if bridge is not None and leg and leg in bridge.channel_ids and leg in channels:
            self.engine.adopt(
                row,
                Resume(
                    tried=tried,
                    bridged_with=leg,
                    operator_id=row.operator_id,
                    patient_id=row.patient_id,
                ),
            )
            return
        if leg and leg in channels:
            await self._hangup(leg)  # rung by the previous process; ring the next one fresh
        self.engine.adopt(
            row, Resume(tried=tried, patient_id=row.patient_id, caller_e164=row.caller_e164)
        )

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
            if LEG_MARK in channel_id:
                caller_id = channel_id.split(LEG_MARK)[0]
                if caller_id not in channels:
                    await self._hangup(channel_id)
                continue
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
                status = self.engine.ctx.board.by_endpoint(_endpoint(channels[partner].name))
                resume = Resume(bridged_with=partner, operator_id=status.id if status else None)
            else:
                resume = Resume()
            self.engine.start_call(
                channel_id, channel.exten or "", channel.caller_number or "", resume
            )
            if partner is None:
                # Not in our database at all: write the row the lost write should have made.
                call = self.engine.owner_of(channel_id)
                if call is not None:
                    self.engine.ctx.recorder_create(call)

    def _operators_on_adopted_calls(self) -> set[str]:
        return {
            c.operator_id for c in self.engine.live_calls() if c.operator_id and c.operator_channel
        }

    def _reset_stale_presence(self, busy: set[str]) -> None:
        """States persisted by a process that died: nobody is ringing them any more."""
        board = self.engine.ctx.board
        for status in board.statuses():
            if status.id in busy:
                if status.presence is not Presence.ON_CALL:
                    board.set(status.id, Presence.ON_CALL)
            elif status.presence in (Presence.RINGING, Presence.ON_CALL):
                board.set(status.id, Presence.AVAILABLE)

    async def _delete_empty_bridges(self, bridges: list[Bridge]) -> None:
        for bridge in bridges:
            if bridge.id.startswith(BRIDGE_PREFIX) and not bridge.channel_ids:
                owner = self.engine.owner_of(bridge.id.removeprefix(BRIDGE_PREFIX))
                if owner is None:
                    await self._delete_bridge(bridge.id)

    async def _delete_bridge(self, bridge_id: str) -> None:
        try:
            await self.engine.ctx.ari.delete_bridge(bridge_id)
        except ari_errors.AriError:
            pass  # already gone

    async def _hangup(self, channel_id: str) -> None:
        try:
            await self.engine.ctx.ari.hangup(channel_id)
        except ari_errors.AriError:
            pass


def _endpoint(channel_name: str) -> str:
    """`PJSIP/op1001-0000002a` -> `PJSIP/op1001`."""
    return channel_name.rsplit("-", 1)[0]
