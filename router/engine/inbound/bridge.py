"""The call's bridge: the caller holds there with music while operators ring, leaves it
to hear a message alone, and the answering operator joins them there.

Bridge MOH blocks nothing on the caller's channel (a channel playback would hold every
later command), which is why the caller waits in a bridge and not on a playback.
"""

from __future__ import annotations

from router.ari import errors as ari_errors
from router.engine.call_state import BRIDGE_PREFIX, CallerGone
from router.engine.cleanup import delete_bridge
from router.engine.inbound.channel import CallerChannel
from router.engine.inbound.prompts import Prompts


class CallBridge:
    """`cr-<call id>`, created when the caller first waits."""

    def __init__(self, channel: CallerChannel, prompts: Prompts, adopted: bool) -> None:
        self.channel = channel
        self.prompts = prompts
        self.id = f"{BRIDGE_PREFIX}{channel.id}"
        self.adopted = adopted  # after a restart the bridge may already be there
        self.ready = False
        # A create was sent: its reply may be lost while Asterisk still makes it.
        self.asked = False

    async def hold(self) -> None:
        """Put the caller in the bridge with music."""
        if self.ready:
            return
        ari = self.channel.ctx.ari
        await self.prompts.stop()  # addChannel would wait behind it
        members: tuple[str, ...] = ()
        if self.adopted:
            try:
                members = (await ari.get_bridge(self.id)).channel_ids
                self.ready = True
            except ari_errors.AriNotFound:
                pass
        if not self.ready:
            self.asked = True
            await ari.create_bridge(self.id, "mixing", name=self.id)
            self.ready = True
        if self.channel.id not in members:
            await self.add(self.channel.id)
        await self._music()

    async def unhold(self) -> None:
        """Take the caller out of the bridge (to play a message to them alone)."""
        if not self.ready:
            return
        ari = self.channel.ctx.ari
        try:
            await ari.stop_bridge_moh(self.id)
            await ari.remove_channel(self.id, self.channel.id)
        except ari_errors.AriNotFound:
            raise CallerGone() from None
        except ari_errors.AriError:
            pass

    async def rejoin(self) -> None:
        """Back into the bridge with music (after `unhold`)."""
        await self.prompts.stop()
        await self.add(self.channel.id)
        await self._music()

    async def join(self, leg: str) -> None:
        """The answering operator joins the caller: the music stops first."""
        await self.prompts.stop()
        try:
            await self.channel.ctx.ari.stop_bridge_moh(self.id)
        except ari_errors.AriError:
            pass
        await self.add(leg)

    async def add(self, channel_id: str) -> None:
        try:
            await self.channel.ctx.ari.add_channel(self.id, [channel_id])
        except ari_errors.AriNotFound:
            if channel_id == self.channel.id:
                raise CallerGone() from None
            raise

    async def leave_for_fallback(self) -> None:
        """Out of the bridge before the dialplan takes the caller (best effort)."""
        try:
            if self.ready:
                await self.channel.ctx.ari.remove_channel(self.id, self.channel.id)
        except ari_errors.AriError:
            pass

    async def delete(self) -> None:
        """Last, once the call is over (retried with backoff when Asterisk is slow)."""
        if self.ready or self.asked or self.adopted:
            # A create whose reply never came may still be carried out after our DELETE.
            unsure = self.asked and not self.ready
            await delete_bridge(self.channel.ctx.ari, self.id, create_in_flight=unsure)

    async def _music(self) -> None:
        ctx = self.channel.ctx
        await self.channel.guard(ctx.ari.start_bridge_moh(self.id, ctx.settings.moh_class))
