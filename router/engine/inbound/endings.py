"""How a call ends without an operator: a message, a voicemail, or "nobody can take
your call" before the hang-up (docs/rules.md: a caller is never simply hung up on)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from router.ari import errors as ari_errors
from router.ari.events import RecordingEnded
from router.engine.call_state import CallerGone
from router.engine.context import CallContext
from router.engine.inbound.bridge import CallBridge
from router.engine.inbound.channel import CallerChannel
from router.engine.inbound.prompts import Prompts

log = logging.getLogger(__name__)

VOICEMAIL_MAX_S = 120
# "Nobody can take your call" is a short prompt; one that never reports its end does not
# hold the hang-up longer (a missing file reports `failed` at once).
NO_OPERATOR_PROMPT_LIMIT_S = 15.0


@dataclass
class Endings:
    channel: CallerChannel
    prompts: Prompts
    bridge: CallBridge

    @property
    def ctx(self) -> CallContext:
        return self.channel.ctx

    async def message(self, prompt: str | None) -> None:
        """A message alone, out of the bridge (None: the router's default one)."""
        await self.bridge.unhold()
        # `hang_up:` with nothing under it plays the default message (docs/rules.md).
        message = prompt or self.ctx.settings.no_operator_prompt
        await self.prompts.play([message])
        self.channel.event("message", {"prompt": message})

    async def nobody_available(self) -> None:
        """The caller hears why before the hang-up; a prompt Asterisk refuses costs
        nothing more than a log line."""
        await self.bridge.unhold()
        prompt = self.ctx.settings.no_operator_prompt
        try:
            await self.prompts.play([prompt], limit_s=NO_OPERATOR_PROMPT_LIMIT_S)
        except ari_errors.AriError as exc:  # a caller gone (404) is CallerGone, not this
            log.warning("cannot play %s before the hang-up: %s", prompt, exc)

    async def voicemail(self) -> None:
        channel = self.channel
        recording = f"voicemail-{channel.id}"
        try:
            await channel.guard(
                self.ctx.ari.record(
                    channel.id, recording, max_duration_s=VOICEMAIL_MAX_S, beep=True
                )
            )
        except ari_errors.AriError as exc:  # a failed recording still leaves the task;
            # a caller already gone (404) is CallerGone and has abandoned, not left a message
            log.warning("voicemail recording failed: %s", exc)
            return
        channel.event("voicemail", {"recording": recording})
        try:
            await self._recorded(recording)
        except CallerGone as gone:
            if gone.asterisk_shutdown:
                raise
            # Hanging up is how a caller ends their message (Asterisk then finishes the
            # recording): the message was left, the call ends as voicemail.
            channel.event("voicemail_end", {"by": "caller"})

    async def _recorded(self, name: str) -> None:
        clock = self.ctx.clock
        deadline = clock() + VOICEMAIL_MAX_S + 10
        while (left := deadline - clock()) > 0:
            event = await self.channel.next(left)
            if isinstance(event, RecordingEnded) and event.name == name:
                data: dict[str, object] = {"state": event.state, "s": event.duration_s}
                self.channel.event("voicemail_end", data)
                return
            if event is not None:
                self.channel.aside(event)
