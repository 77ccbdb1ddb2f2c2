"""What the caller hears and presses: prompts, menus with DTMF, messages.

Asterisk queues a channel's commands behind a running channel playback (ari-facts §9b),
so a playback is always stopped before the caller is bridged or moved, and a key
pressed during a prompt stops it at once (barge-in).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from router.ari import errors as ari_errors
from router.ari.events import ChannelDtmfReceived, PlaybackFinished
from router.domain.menus import MenuOption, MenuPlan
from router.engine.call_base import CallBase

log = logging.getLogger(__name__)

DTMF_KEYS = frozenset("0123456789*#")
MESSAGE_LIMIT_S = 120.0  # a prompt that never reports its end does not hold the call


def media_of(name: str) -> str:
    """A prompt name from the rules (`clinic-main-menu`) as an ARI media URI."""
    return name if ":" in name else f"sound:{name}"


class CallMedia(CallBase):
    language = "ru"
    visit: datetime | None = None  # the caller's visit later today or tomorrow (local time)

    def _visit_prompts(self) -> list[str]:
        """ "(your appointment) tomorrow at 10 hours 30 minutes", from core and demo sounds."""
        if self.visit is None:
            return []
        today = datetime.now(self.visit.tzinfo).date()
        day = "clinic-visit-today" if self.visit.date() == today else "clinic-visit-tomorrow"
        prompts = [day, f"number:{self.visit.hour}", "hours"]
        if self.visit.minute:
            prompts += [f"number:{self.visit.minute}", "minutes"]
        return prompts

    async def _start_playback(self, prompts: Sequence[str]) -> str:
        playback = await self._guard(
            self.ctx.ari.play(self.id, [media_of(p) for p in prompts], lang=self.language)
        )
        self.playback_id = playback.id
        self.playback_media = " ".join(prompts)
        return playback.id

    async def _stop_playback(self) -> None:
        playback, self.playback_id = self.playback_id, None
        if playback is None:
            return
        try:
            await self.ctx.ari.stop_playback(playback)
        except ari_errors.AriError:
            pass  # already finished

    async def _play(self, prompts: Sequence[str], limit_s: float = MESSAGE_LIMIT_S) -> str:
        """Play prompts to the end (or `limit_s`); returns the playback's final state."""
        playback = await self._start_playback(prompts)
        deadline = self.ctx.clock() + limit_s
        while (left := deadline - self.ctx.clock()) > 0:
            event = await self._next(left)
            if isinstance(event, PlaybackFinished) and event.playback.id == playback:
                self._note_playback_end(event)
                return event.playback.state
            if event is not None:
                self._decline_offer(event)
        await self._stop_playback()
        return "timeout"

    async def _ask_key(self, prompts: Sequence[str], timeout_s: float) -> str | None:
        """Play `prompts`, then wait `timeout_s` for a key; a key during the prompt stops it.

        Untrusted input: only one of 0-9 * # counts as a key.
        """
        playback = await self._start_playback(prompts)
        playing = True
        deadline = self.ctx.clock() + MESSAGE_LIMIT_S
        while True:
            event = await self._next(max(0.0, deadline - self.ctx.clock()))
            if event is None:
                if playing:  # the prompt never reported its end
                    await self._stop_playback()
                return None
            if isinstance(event, ChannelDtmfReceived) and event.channel.id == self.id:
                if event.digit in DTMF_KEYS:
                    if playing:
                        await self._stop_playback()
                    return event.digit
                continue
            if isinstance(event, PlaybackFinished) and event.playback.id == playback:
                if event.playback.state == "failed":
                    log.warning("prompt %s could not be played (missing file?)", prompts)
                playing = False
                self._note_playback_end(event)
                deadline = self.ctx.clock() + timeout_s
                continue
            self._decline_offer(event)

    async def _run_menu(self, plan: MenuPlan) -> tuple[MenuOption | None, list[str], str]:
        """Play a trimmed menu until a valid key; after the retries, its default.

        Returns the option (None: no valid key and no default), the keys pressed and
        what happened in words. A caller who presses nothing is never hung up on here:
        the walk decides what comes next.
        """
        menu = plan.menu
        prompts = [menu.prompt]
        for offered in plan.options:
            prompts += [offered.prompt] if offered.prompt else []
            prompts += self._visit_prompts() if offered.say_visit else []
        pressed: list[str] = []
        for attempt in range(menu.retries + 1):
            key = await self._ask_key(prompts, menu.timeout_s)
            if key is not None:
                pressed.append(key)
                option = next((o for o in plan.options if o.key == key), None)
                if option is not None:
                    return option, pressed, f"caller pressed {key}"
            if attempt < menu.retries and key is not None and menu.invalid_prompt:
                await self._play([menu.invalid_prompt], limit_s=30)
        default = plan.default
        what = "no valid key" + (f" ({', '.join(pressed)})" if pressed else "")
        if default is not None:
            return default, pressed, f"{what} after {menu.retries + 1} tries: default {default.key}"
        return None, pressed, f"{what} after {menu.retries + 1} tries and no default"
