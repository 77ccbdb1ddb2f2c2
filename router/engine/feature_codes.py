"""A feature code call from an operator's phone (dialplan: Stasis(clinic-router,feature,CODE)).

The operator is whoever owns the calling endpoint: the code cannot name someone else.
The change goes through the board's `request_state`, the same rule as the API's: dialled
on a second line during a call, it is kept and applied when that call ends. The caller
hears a beep when the change is taken and an error tone when it is refused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from router.ari import errors as ari_errors
from router.ari.events import ChannelDestroyed, PlaybackFinished, StasisEnd, StasisStart
from router.domain.feature_codes import parse_feature_code
from router.engine.call_state import ChannelGone
from router.engine.cleanup import hang_up
from router.engine.context import CallContext
from router.observability import logs

log = logging.getLogger(__name__)

FEATURE_ARG = "feature"
CONFIRM = "sound:beep"
REFUSE = "sound:an-error-has-occurred"
# A beep or the error prompt lasts under 3 s; the bound only matters when Asterisk never
# reports the playback's end (e.g. the event socket dropped meanwhile).
PLAYBACK_LIMIT_S = 6.0
_GONE = (StasisEnd, ChannelDestroyed, ChannelGone)


async def handle_feature_code(ctx: CallContext, event: StasisStart) -> None:
    channel = event.channel
    logs.bind(channel=channel.id)  # its own task: every line of it names the phone's channel
    code = event.args[1] if len(event.args) > 1 else ""
    change = parse_feature_code(code[:8])
    status = ctx.board.by_endpoint(channel.endpoint)
    if change is not None and status is not None:
        status = ctx.board.request_state(status.id, change.presence, change.reason)
        log.info(
            "operator %s asked for %s%s by feature code%s",
            status.id,
            change.presence,
            f" ({change.reason})" if change.reason else "",
            " (pending: on a call)" if status.pending is not None else "",
        )
    else:
        log.warning("feature code %r from %s refused", code[:8], channel.name)
    ok = change is not None and status is not None
    await _play_to_end(ctx, channel.id, CONFIRM if ok else REFUSE)
    await hang_up(ctx.ari, channel.id)


class _FeatureLine:
    """The feature call's channel as an event sink, so its playback's end reaches us."""

    def __init__(self, channel_id: str) -> None:
        self.id = f"feature {channel_id}"
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=32)


async def _play_to_end(ctx: CallContext, channel_id: str, media: str) -> None:
    """Play `media` and return when it finished, the phone hung up, or after the bound."""
    line = _FeatureLine(channel_id)
    ctx.attach(channel_id, line)  # before playing: the end may come before play() returns
    try:
        playback = await ctx.ari.play(channel_id, [media])
        async with asyncio.timeout(PLAYBACK_LIMIT_S):
            while True:
                event = await line.queue.get()
                if isinstance(event, PlaybackFinished) and event.playback.id == playback.id:
                    return
                if isinstance(event, _GONE):
                    return
    except TimeoutError:
        log.warning(
            "feature code prompt on %s: no PlaybackFinished within %.0f s",
            channel_id,
            PLAYBACK_LIMIT_S,
        )
    except ari_errors.AriError:
        pass  # the phone hung up first (404) or Asterisk refused: nothing left to hear
    finally:
        ctx.detach(channel_id)
