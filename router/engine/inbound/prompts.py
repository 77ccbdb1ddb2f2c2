"""What the caller hears: prompts played on their channel, and a key asked for.

Asterisk queues a channel's commands behind a running channel playback
(docs/dev/asterisk-behaviour.md §9b), so a playback is always stopped before the caller
is bridged or moved, and a key pressed during a prompt stops it at once (barge-in).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from router.ari import errors as ari_errors
from router.ari.events import ChannelDtmfReceived, PlaybackFinished
from router.engine.inbound.channel import CallerChannel

log = logging.getLogger(__name__)

DTMF_KEYS = frozenset("0123456789*#")
MESSAGE_LIMIT_S = 120.0  # a prompt that never reports its end does not hold the call


def media_of(name: str) -> str:
    """A prompt name from the rules (`clinic-main-menu`) as an ARI media URI."""
    return name if ":" in name else f"sound:{name}"


class Prompts:
    """The caller's running playback (at most one) and the prompts asked of them."""

    def __init__(self, channel: CallerChannel) -> None:
        self.channel = channel
        self.language = "ru"
        self.playback_id: str | None = None
        self.playback_media = ""
        channel.on_aside = self.note_end

    @property
    def playing(self) -> bool:
        return self.playback_id is not None

    def note_end(self, event: object) -> None:
        """Journal what the caller heard when their playback ends, as Asterisk reports
        it (a missing file shows `failed`)."""
        if isinstance(event, PlaybackFinished) and event.playback.id == self.playback_id:
            self.playback_id = None
            self.channel.event(
                "played", {"media": self.playback_media, "state": event.playback.state}
            )

    async def start(self, prompts: Sequence[str]) -> str:
        ctx, channel = self.channel.ctx, self.channel
        media = [media_of(p) for p in prompts]
        playback = await channel.guard(ctx.ari.play(channel.id, media, lang=self.language))
        self.playback_id = playback.id
        self.playback_media = " ".join(prompts)
        return playback.id

    async def stop(self) -> None:
        playback, self.playback_id = self.playback_id, None
        if playback is None:
            return
        try:
            await self.channel.ctx.ari.stop_playback(playback)
        except ari_errors.AriError:
            pass  # already finished

    async def play(self, prompts: Sequence[str], limit_s: float = MESSAGE_LIMIT_S) -> str:
        """Play prompts to the end (or `limit_s`); returns the playback's final state."""
        clock, channel = self.channel.ctx.clock, self.channel
        playback = await self.start(prompts)
        deadline = clock() + limit_s
        while (left := deadline - clock()) > 0:
            event = await channel.next(left)
            if isinstance(event, PlaybackFinished) and event.playback.id == playback:
                self.note_end(event)
                return event.playback.state
            if event is not None:
                channel.aside(event)
        await self.stop()
        return "timeout"

    async def ask_key(self, prompts: Sequence[str], timeout_s: float) -> str | None:
        """Play `prompts`, then wait `timeout_s` for a key; a key during the prompt stops it.

        Untrusted input: only one of 0-9 * # counts as a key.
        """
        clock, channel = self.channel.ctx.clock, self.channel
        playback = await self.start(prompts)
        playing = True
        deadline = clock() + MESSAGE_LIMIT_S
        while True:
            event = await channel.next(max(0.0, deadline - clock()))
            if event is None:
                if playing:  # the prompt never reported its end
                    await self.stop()
                return None
            if isinstance(event, ChannelDtmfReceived) and event.channel.id == channel.id:
                if event.digit in DTMF_KEYS:
                    if playing:
                        await self.stop()
                    return event.digit
                continue
            if isinstance(event, PlaybackFinished) and event.playback.id == playback:
                if event.playback.state == "failed":
                    log.warning("prompt %s could not be played (missing file?)", prompts)
                playing = False
                self.note_end(event)
                deadline = clock() + timeout_s
                continue
            channel.aside(event)
